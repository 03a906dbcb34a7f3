/* xdp_fib_router: an IPv4 and IPv6 router on the host's FIB.  Each IP frame's destination is
 * looked up with bpf_fib_lookup from the ingress device; a forwarded frame gets its TTL (hop
 * limit) decreased,
 * the next hop's MAC as destination and the output device's MAC as source, and leaves by
 * bpf_redirect to the output device.  Blackhole, unreachable and prohibit routes drop it; no
 * neighbour yet, not forwarded, forwarding off and a TTL of 1 or less go to the host's stack;
 * a frame above the route's MTU is dropped.  `lookups` counts each return code (0..9).
 * After Linux samples/bpf/xdp_fwd_kern.c, written for xdpnic. */
#include "xdpnic.h"

#define AF_INET 2
#define AF_INET6 10
#define FIB_RETURN_CODES 10
#define IPV6_FLOWINFO_MASK bpf_htonl(0x0FFFFFFF)

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, FIB_RETURN_CODES);
} lookups SEC(".maps");

SEC("xdp")
int xdp_fib_router(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct bpf_fib_lookup params;
    struct ethhdr *eth = data;
    struct iphdr *iph = NULL;
    struct ipv6hdr *ip6h = NULL;
    __u64 *count;
    __u32 code;
    long rc;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    __builtin_memset(&params, 0, sizeof(params));
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        iph = (void *)(eth + 1);
        if ((void *)(iph + 1) > data_end)
            return XDP_DROP;
        if (iph->ttl <= 1)
            return XDP_PASS;
        params.family = AF_INET;
        params.tos = iph->tos;
        params.l4_protocol = iph->protocol;
        params.tot_len = bpf_ntohs(iph->tot_len);
        params.ipv4_src = iph->saddr;
        params.ipv4_dst = iph->daddr;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        ip6h = (void *)(eth + 1);
        if ((void *)(ip6h + 1) > data_end)
            return XDP_DROP;
        if (ip6h->hop_limit <= 1)
            return XDP_PASS;
        params.family = AF_INET6;
        params.flowinfo = *(__be32 *)ip6h & IPV6_FLOWINFO_MASK;
        params.l4_protocol = ip6h->nexthdr;
        params.tot_len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
        __builtin_memcpy(params.ipv6_src, &ip6h->saddr, sizeof(params.ipv6_src));
        __builtin_memcpy(params.ipv6_dst, &ip6h->daddr, sizeof(params.ipv6_dst));
    } else {
        return XDP_PASS;
    }
    params.ifindex = ctx->ingress_ifindex;

    rc = bpf_fib_lookup(ctx, &params, sizeof(params), 0);
    code = rc;
    if (rc >= 0 && code < FIB_RETURN_CODES) {
        count = bpf_map_lookup_elem(&lookups, &code);
        if (count)
            __sync_fetch_and_add(count, 1);
    }
    switch (rc) {
    case BPF_FIB_LKUP_RET_SUCCESS:
        if (iph)
            ipv4_decrease_ttl(iph);
        else if (ip6h)
            ip6h->hop_limit--;
        __builtin_memcpy(eth->h_dest, params.dmac, ETH_ALEN);
        __builtin_memcpy(eth->h_source, params.smac, ETH_ALEN);
        return bpf_redirect(params.ifindex, 0);
    case BPF_FIB_LKUP_RET_BLACKHOLE:
    case BPF_FIB_LKUP_RET_UNREACHABLE:
    case BPF_FIB_LKUP_RET_PROHIBIT:
    case BPF_FIB_LKUP_RET_FRAG_NEEDED:
        return XDP_DROP;
    default:
        return XDP_PASS;
    }
}

char _license[] SEC("license") = "GPL";
