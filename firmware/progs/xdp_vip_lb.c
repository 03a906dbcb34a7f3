/* xdp_vip_lb: a Katran-like layer-4 balancer with maps of maps.  `vips` (HASH_OF_MAPS) maps a
 * virtual service (IPv4 address, port, protocol) to its ring of real servers, an inner ARRAY
 * of (address, MAC) slots; a flow picks a slot by a hash of its source address and port.  The
 * frame's destination address becomes the real's (IPv4 and TCP/UDP checksums updated), its
 * MACs the real's and ours, and it leaves by XDP_TX.  Port 80 of an unknown address uses the
 * ring in `fallback` (an ARRAY_OF_MAPS whose slot 0 the loader fills with `ring_b`); an empty
 * slot drops; anything else passes.  The host fills `vips` with rings (`ring_a`, `ring_b`). */
#include "xdpnic.h"

#define RING_SLOTS 4

struct vip_key {
    __be32 addr;
    __be16 port;
    __u8 proto;
    __u8 pad;
};

struct real {
    __be32 addr;
    __u8 mac[ETH_ALEN];
    __u16 pad;
};

struct ring {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct real);
    __uint(max_entries, RING_SLOTS);
};

struct ring ring_a SEC(".maps");
struct ring ring_b SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __type(key, struct vip_key);
    __uint(max_entries, 16);
    __array(values, struct ring);
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __type(key, __u32);
    __uint(max_entries, 1);
    __array(values, struct ring);
} fallback SEC(".maps") = {
    .values = { [0] = &ring_b },
};

SEC("xdp")
int xdp_vip_lb(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph;
    struct udphdr *l4;          /* the ports of UDP and TCP share their place */
    struct vip_key key = {};
    struct real *real;
    void *ring;
    __u32 zero = 0, slot, hash;
    __be32 old_addr;
    __sum16 *l4_check;

    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    iph = (void *)(eth + 1);
    if ((void *)(iph + 1) > data_end || iph->ihl != 5)
        return XDP_PASS;
    if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
        return XDP_PASS;
    l4 = (void *)(iph + 1);
    if ((void *)(l4 + 1) > data_end)
        return XDP_DROP;
    key.addr = iph->daddr;
    key.port = l4->dest;
    key.proto = iph->protocol;
    ring = bpf_map_lookup_elem(&vips, &key);
    if (!ring && l4->dest == bpf_htons(80))
        ring = bpf_map_lookup_elem(&fallback, &zero);
    if (!ring)
        return XDP_PASS;
    hash = iph->saddr ^ l4->source;
    hash ^= hash >> 16;
    slot = hash % RING_SLOTS;
    real = bpf_map_lookup_elem(ring, &slot);
    if (!real || !real->addr)
        return XDP_DROP;

    old_addr = iph->daddr;
    iph->daddr = real->addr;
    ipv4_set_csum(iph);
    if (iph->protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = (void *)(iph + 1);
        if ((void *)(tcp + 1) > data_end)
            return XDP_DROP;
        l4_check = &tcp->check;
    } else {
        l4_check = &l4->check;
    }
    if (iph->protocol == IPPROTO_TCP || *l4_check)      /* UDP: 0 means no checksum */
        *l4_check = csum_fold(bpf_csum_diff(&old_addr, 4, &iph->daddr, 4, ~*l4_check & 0xffff));
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
