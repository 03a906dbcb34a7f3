/* xdp_tx_iptunnel: IPv4 TCP/UDP packets to a virtual IP (address, port, protocol in the hash
 * `vip2tnl`) are encapsulated in IP-in-IP toward the VIP's tunnel endpoint and sent back out
 * (XDP_TX): bpf_xdp_adjust_head makes room for the outer IPv4 header, the new Ethernet header
 * goes to the endpoint's next hop (from our own address, the old destination), and the outer
 * checksum is computed with bpf_csum_diff.  Tunnelled packets are counted per IP protocol in
 * `rxcnt`.  Packets to other destinations, IPv4 with options and non-IPv4 frames pass to the
 * host; a frame cut short inside its IPv4, TCP or UDP header is dropped.
 * After Linux samples/bpf/xdp_tx_iptunnel_kern.c (which also does IPv6-in-IPv6). */
#include "xdpnic.h"

#define TUNNEL_TTL 8

struct vip {
    __be32 daddr;
    __be16 dport;
    __u8 protocol;
    __u8 pad;               /* zero */
};

struct tunnel {
    __be32 saddr;           /* outer source: this host's tunnel address */
    __be32 daddr;           /* outer destination: the tunnel endpoint */
    __u8 dmac[ETH_ALEN];    /* the next hop toward it */
    __u16 pad;
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

SEC("xdp")
int xdp_tx_iptunnel(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data, *new_eth, *old_eth;
    struct iphdr *iph = data + sizeof(*eth);
    struct vip vip = {};
    struct tunnel *tnl;
    __u16 payload_len;
    __u32 protocol;
    __u64 *count;
    int dport;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    if ((void *)(iph + 1) > data_end)
        return XDP_DROP;
    if (iph->ihl != 5)
        return XDP_PASS;
    dport = get_dport(iph + 1, data_end, iph->protocol);
    if (dport == -1)
        return XDP_DROP;
    vip.daddr = iph->daddr;
    vip.dport = dport;
    vip.protocol = iph->protocol;
    payload_len = bpf_ntohs(iph->tot_len);
    tnl = bpf_map_lookup_elem(&vip2tnl, &vip);
    if (!tnl)
        return XDP_PASS;

    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    new_eth = data;
    iph = data + sizeof(*new_eth);
    old_eth = data + sizeof(*iph);
    if ((void *)(new_eth + 1) > data_end || (void *)(old_eth + 1) > data_end ||
        (void *)(iph + 1) > data_end)
        return XDP_DROP;

    /* The old Ethernet header now lies under the outer IPv4 header: read it first. */
    __builtin_memcpy(new_eth->h_source, old_eth->h_dest, ETH_ALEN);
    __builtin_memcpy(new_eth->h_dest, tnl->dmac, ETH_ALEN);
    new_eth->h_proto = bpf_htons(ETH_P_IP);

    iph->version = 4;
    iph->ihl = 5;
    iph->tos = 0;
    iph->tot_len = bpf_htons(payload_len + sizeof(*iph));
    iph->id = 0;
    iph->frag_off = 0;
    iph->ttl = TUNNEL_TTL;
    iph->protocol = IPPROTO_IPIP;
    iph->saddr = tnl->saddr;
    iph->daddr = tnl->daddr;
    ipv4_set_csum(iph);

    protocol = vip.protocol;
    count = bpf_map_lookup_elem(&rxcnt, &protocol);
    if (count)
        *count += 1;
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
