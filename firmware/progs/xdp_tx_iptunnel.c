/* xdp_tx_iptunnel: TCP/UDP packets to a virtual IP (family, address, port, protocol in the
 * hash `vip2tnl`) are encapsulated toward the VIP's tunnel endpoint and sent back out
 * (XDP_TX): IPv4 in IPv4 (IP-in-IP, outer checksum by bpf_csum_diff) or IPv6 in IPv6.
 * bpf_xdp_adjust_head makes room for the outer header; the new Ethernet header goes to the
 * endpoint's next hop, from our own address (the old destination).  A VIP whose tunnel is of
 * the other family passes.  Tunnelled packets are counted per IP protocol in `rxcnt`.
 * Packets to other destinations, IPv4 with options, IPv6 with extension headers and other
 * frames pass to the host; a frame cut short inside its IP, TCP or UDP header is dropped.
 * After Linux samples/bpf/xdp_tx_iptunnel_kern.c. */
#include "xdpnic.h"

#define TUNNEL_TTL 8

#define AF_INET 2
#define AF_INET6 10

struct vip {
    __be32 daddr[4];        /* IPv4: daddr[0], the rest zero */
    __be16 dport;
    __u8 protocol;
    __u8 family;            /* AF_INET or AF_INET6 */
};

struct tunnel {
    __be32 saddr[4];        /* outer source: this host's tunnel address (IPv4: [0]) */
    __be32 daddr[4];        /* outer destination: the tunnel endpoint */
    __u8 dmac[ETH_ALEN];    /* the next hop toward it */
    __u16 family;           /* AF_INET or AF_INET6: the outer header's family */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct vip);
    __type(value, struct tunnel);
    __uint(max_entries, 256);
} vip2tnl SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 256);
} rxcnt SEC(".maps");

/* The destination port of a TCP or UDP header at `l4` (0 for other protocols), or -1 when
 * the header is cut short. */
static __always_inline int get_dport(void *l4, void *data_end, __u8 protocol)
{
    struct tcphdr *th = l4;
    struct udphdr *uh = l4;

    switch (protocol) {
    case IPPROTO_TCP:
        if ((void *)(th + 1) > data_end)
            return -1;
        return th->dest;
    case IPPROTO_UDP:
        if ((void *)(uh + 1) > data_end)
            return -1;
        return uh->dest;
    default:
        return 0;
    }
}

static __always_inline void count_tx(__u32 protocol)
{
    __u64 *count = bpf_map_lookup_elem(&rxcnt, &protocol);

    if (count)
        *count += 1;
}

/* Write the new Ethernet header in front of `outer_len` bytes of new outer header; the old
 * Ethernet header (which those bytes now cover) is read first.  -1 if the frame is short. */
static __always_inline int set_ethhdr(void *data, void *data_end, __u32 outer_len,
                                      struct tunnel *tnl, __be16 proto)
{
    struct ethhdr *new_eth = data, *old_eth = data + outer_len;

    if ((void *)(old_eth + 1) > data_end)
        return -1;
    __builtin_memcpy(new_eth->h_source, old_eth->h_dest, ETH_ALEN);
    __builtin_memcpy(new_eth->h_dest, tnl->dmac, ETH_ALEN);
    new_eth->h_proto = proto;
    return 0;
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, void *data, void *data_end)
{
    struct iphdr *iph = data + sizeof(struct ethhdr);
    struct vip vip = {};
    struct tunnel *tnl;
    __u16 payload_len;
    int dport;

    if ((void *)(iph + 1) > data_end)
        return XDP_DROP;
    if (iph->ihl != 5)
        return XDP_PASS;
    dport = get_dport(iph + 1, data_end, iph->protocol);
    if (dport == -1)
        return XDP_DROP;
    vip.daddr[0] = iph->daddr;
    vip.dport = dport;
    vip.protocol = iph->protocol;
    vip.family = AF_INET;
    payload_len = bpf_ntohs(iph->tot_len);
    tnl = bpf_map_lookup_elem(&vip2tnl, &vip);
    if (!tnl || tnl->family != AF_INET)
        return XDP_PASS;

    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    iph = data + sizeof(struct ethhdr);
    if (set_ethhdr(data, data_end, sizeof(*iph), tnl, bpf_htons(ETH_P_IP)) ||
        (void *)(iph + 1) > data_end)
        return XDP_DROP;
    iph->version = 4;
    iph->ihl = 5;
    iph->tos = 0;
    iph->tot_len = bpf_htons(payload_len + sizeof(*iph));
    iph->id = 0;
    iph->frag_off = 0;
    iph->ttl = TUNNEL_TTL;
    iph->protocol = IPPROTO_IPIP;
    iph->saddr = tnl->saddr[0];
    iph->daddr = tnl->daddr[0];
    ipv4_set_csum(iph);
    count_tx(vip.protocol);
    return XDP_TX;
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, void *data, void *data_end)
{
    struct ipv6hdr *ip6h = data + sizeof(struct ethhdr);
    struct vip vip = {};
    struct tunnel *tnl;
    __u16 payload_len;
    int dport;

    if ((void *)(ip6h + 1) > data_end)
        return XDP_DROP;
    if (ip6h->nexthdr != IPPROTO_TCP && ip6h->nexthdr != IPPROTO_UDP)
        return XDP_PASS;
    dport = get_dport(ip6h + 1, data_end, ip6h->nexthdr);
    if (dport == -1)
        return XDP_DROP;
    __builtin_memcpy(vip.daddr, &ip6h->daddr, sizeof(vip.daddr));
    vip.dport = dport;
    vip.protocol = ip6h->nexthdr;
    vip.family = AF_INET6;
    payload_len = bpf_ntohs(ip6h->payload_len);
    tnl = bpf_map_lookup_elem(&vip2tnl, &vip);
    if (!tnl || tnl->family != AF_INET6)
        return XDP_PASS;

    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct ipv6hdr)))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    ip6h = data + sizeof(struct ethhdr);
    if (set_ethhdr(data, data_end, sizeof(*ip6h), tnl, bpf_htons(ETH_P_IPV6)) ||
        (void *)(ip6h + 1) > data_end)
        return XDP_DROP;
    /* version 6, traffic class 0, flow label 0 */
    *(__be32 *)ip6h = bpf_htonl(6 << 28);
    ip6h->payload_len = bpf_htons(payload_len + sizeof(*ip6h));
    ip6h->nexthdr = IPPROTO_IPV6;
    ip6h->hop_limit = TUNNEL_TTL;
    __builtin_memcpy(&ip6h->saddr, tnl->saddr, sizeof(tnl->saddr));
    __builtin_memcpy(&ip6h->daddr, tnl->daddr, sizeof(tnl->daddr));
    count_tx(vip.protocol);
    return XDP_TX;
}

SEC("xdp")
int xdp_tx_iptunnel(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto == bpf_htons(ETH_P_IP))
        return handle_ipv4(ctx, data, data_end);
    if (eth->h_proto == bpf_htons(ETH_P_IPV6))
        return handle_ipv6(ctx, data, data_end);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
