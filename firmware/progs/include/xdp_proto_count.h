/* The parser and counter xdp1 and xdp2 share (after Linux samples/bpf/xdp1_kern.c): walk
 * Ethernet and up to two VLAN tags; the IP protocol of an IPv4 or IPv6 packet (0 when the IP
 * header is cut short or the frame is not IP) indexes a per-CPU packet counter. */
#ifndef XDP_PROTO_COUNT_H
#define XDP_PROTO_COUNT_H

#include "xdpnic.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 256);
} rxcnt SEC(".maps");

static __always_inline __u32 ip_protocol(void *data, void *data_end, __u64 off, __be16 proto)
{
    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *iph = data + off;

        if ((void *)(iph + 1) > data_end)
            return 0;
        return iph->protocol;
    }
    if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6h = data + off;

        if ((void *)(ip6h + 1) > data_end)
            return 0;
        return ip6h->nexthdr;
    }
    return 0;
}

/* Count the frame under its IP protocol; returns that protocol, or -1 for a frame whose
 * Ethernet or VLAN header is cut short (not counted). */
static __always_inline int count_protocol(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 off;
    __be16 proto;
    __u32 ipproto;
    __u64 *value;

    if (parse_eth(data, data_end, &off, &proto) < 0)
        return -1;
    ipproto = ip_protocol(data, data_end, off, proto);
    value = bpf_map_lookup_elem(&rxcnt, &ipproto);
    if (value)
        *value += 1;     /* per-CPU: no other engine writes this copy */
    return ipproto;
}

#endif /* XDP_PROTO_COUNT_H */
