/* xdp_router_ipv4: an IPv4 forwarding fast path.  The destination is looked up in the LPM
 * trie `routes` (longest prefix wins); the next hop (the route's gateway, or the destination
 * itself for an on-link route) in the hash `neighbours`, which gives the Ethernet addresses to
 * write; the TTL is decremented with an incremental checksum update (RFC 1624) and the frame
 * is redirected through the devmap `tx_port` to the route's port.  Whatever the fast path
 * cannot handle goes to the host: non-IPv4 (also VLAN-tagged) frames, IP options, TTL <= 1
 * (the host sends ICMP time exceeded), no route, no neighbour entry.  A frame cut short inside
 * its IPv4 header is dropped, as is a frame routed to a port with no devmap entry.
 * `stats` counts frames per outcome.  After Linux samples/bpf/xdp_router_ipv4_kern.c. */
#include "xdpnic.h"

struct route_key {
    __u32 prefixlen;
    __be32 addr;
};

struct route {
    __be32 gateway;         /* 0: on-link, the destination is the next hop */
    __u32 port;             /* key into tx_port */
};

struct neighbour {
    __u8 dmac[ETH_ALEN];    /* the next hop's address */
    __u8 smac[ETH_ALEN];    /* ours on the link to it */
};

enum router_stat { FORWARDED, TO_HOST, MALFORMED, ROUTER_STATS };

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __type(key, struct route_key);
    __type(value, struct route);
    __uint(max_entries, 256);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __be32);
    __type(value, struct neighbour);
    __uint(max_entries, 256);
} neighbours SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 8);
} tx_port SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ROUTER_STATS);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
    __u64 *value = bpf_map_lookup_elem(&stats, &which);

    if (value)
        *value += 1;
}

SEC("xdp")
int xdp_router_ipv4(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph = data + sizeof(*eth);
    struct route_key key;
    struct route *route;
    struct neighbour *nb;
    __be32 next_hop;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        goto to_host;
    if ((void *)(iph + 1) > data_end) {
        count(MALFORMED);
        return XDP_DROP;
    }
    if (iph->ihl != 5 || iph->ttl <= 1)
        goto to_host;

    key.prefixlen = 32;
    key.addr = iph->daddr;
    route = bpf_map_lookup_elem(&routes, &key);
    if (!route)
        goto to_host;
    next_hop = route->gateway ? route->gateway : iph->daddr;
    nb = bpf_map_lookup_elem(&neighbours, &next_hop);
    if (!nb)
        goto to_host;

    ipv4_decrease_ttl(iph);
    __builtin_memcpy(eth->h_dest, nb->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, nb->smac, ETH_ALEN);
    count(FORWARDED);
    return bpf_redirect_map(&tx_port, route->port, XDP_DROP);

to_host:
    count(TO_HOST);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
