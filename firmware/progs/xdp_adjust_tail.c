/* xdp_adjust_tail: an IPv4 packet longer than max_pcktsz bytes (frame length) is answered,
 * from the NIC, with an ICMP "destination unreachable / fragmentation needed" message to its
 * sender carrying the MTU limit - 14 (limit: max_pcktsz, raised to the 98 bytes a reply keeps) and the first ICMP_TOOBIG_PAYLOAD bytes of the
 * offending datagram: the frame is cut to that size with bpf_xdp_adjust_tail, grown at the
 * head by an IPv4 and an ICMP header with bpf_xdp_adjust_head, both checksums are computed
 * with bpf_csum_diff, and it goes back out (XDP_TX).  Each reply is counted in `icmpcnt`.
 * Everything else passes to the host.  After Linux samples/bpf/xdp_adjust_tail_kern.c; unlike
 * the sample, every header field is written (none is left from the old frame's bytes).
 * Ref: RFC 792, RFC 1191. */
#include "xdpnic.h"

#define ICMP_TOOBIG_QUOTE 84     /* bytes of the offending datagram the reply carries */
#define ICMP_TOOBIG_SIZE (sizeof(struct ethhdr) + ICMP_TOOBIG_QUOTE)  /* frame kept: 98 */
#define ICMP_TOOBIG_PAYLOAD (sizeof(struct icmp_frag_hdr) + ICMP_TOOBIG_QUOTE)   /* 92 */
#define REPLY_HEADROOM (sizeof(struct iphdr) + sizeof(struct icmp_frag_hdr))    /* 28 */
#define REPLY_TTL 64

/* Frames longer than this (bytes, Ethernet header included) get the ICMP reply; the host
 * may change it in the .rodata map before loading, as libbpf skeletons do. */
volatile const __u32 max_pcktsz = 600;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} icmpcnt SEC(".maps");

static __always_inline int send_icmp4_too_big(struct xdp_md *ctx, __u32 limit)
{
    void *data, *data_end;
    struct ethhdr *eth, *orig_eth;
    struct iphdr *iph, *orig_iph;
    struct icmp_frag_hdr *icmp;
    __u32 key = 0;
    __u64 *count;

    if (bpf_xdp_adjust_head(ctx, 0 - (int)REPLY_HEADROOM))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    if (data + REPLY_HEADROOM + ICMP_TOOBIG_SIZE > data_end)
        return XDP_DROP;
    eth = data;
    orig_eth = data + REPLY_HEADROOM;
    iph = data + sizeof(*eth);
    icmp = (void *)(iph + 1);
    orig_iph = data + REPLY_HEADROOM + sizeof(*eth);

    /* The new Ethernet header answers the old one.  The old header's bytes 6..13 are
     * overwritten by the ICMP header below, so the addresses are copied first. */
    __builtin_memcpy(eth->h_dest, orig_eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, orig_eth->h_dest, ETH_ALEN);
    eth->h_proto = bpf_htons(ETH_P_IP);

    /* The IPv4 header answers the old one (its addresses read before any are written). */
    iph->daddr = orig_iph->saddr;
    iph->saddr = orig_iph->daddr;
    iph->version = 4;
    iph->ihl = 5;
    iph->tos = 0;
    iph->tot_len = bpf_htons(sizeof(*iph) + ICMP_TOOBIG_PAYLOAD);
    iph->id = 0;
    iph->frag_off = 0;
    iph->ttl = REPLY_TTL;
    iph->protocol = IPPROTO_ICMP;
    ipv4_set_csum(iph);

    icmp->type = ICMP_DEST_UNREACH;
    icmp->code = ICMP_FRAG_NEEDED;
    icmp->unused = 0;
    icmp->mtu = bpf_htons(limit - sizeof(struct ethhdr));
    icmp->checksum = 0;
    icmp->checksum = csum_fold(bpf_csum_diff(0, 0, (__be32 *)icmp, ICMP_TOOBIG_PAYLOAD, 0));

    count = bpf_map_lookup_elem(&icmpcnt, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    return XDP_TX;
}

SEC("xdp")
int xdp_adjust_tail(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 limit = max_pcktsz;
    int size;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    if (limit < ICMP_TOOBIG_SIZE)
        limit = ICMP_TOOBIG_SIZE;
    size = data_end - data;
    if (size <= limit)
        return XDP_PASS;
    if (bpf_xdp_adjust_tail(ctx, (int)ICMP_TOOBIG_SIZE - size))
        return XDP_PASS;
    return send_icmp4_too_big(ctx, limit);
}

char _license[] SEC("license") = "GPL";
