/* xdp_lb: an L4 load balancer in the style of Katran.
 *
 * An IPv4 TCP or UDP packet to a virtual service (address, port, protocol in the hash `vips`,
 * which gives the VIP's number) goes to one of the service's real servers, encapsulated in
 * IP-in-IP (outer source from `lb_config`, destination the real server) and sent toward the
 * default gateway (XDP_TX).  The real server comes from the LRU connection table
 * `conn_table` when the 5-tuple is known; otherwise from the VIP's consistent-hashing ring:
 * `ring` holds RING_SIZE real-server indexes per VIP, and the flow's jhash picks the slot;
 * the choice is then remembered in `conn_table`, so a connection keeps its server while the
 * host rebuilds the ring.  `reals` maps an index to the server's address (0: none, dropped).
 * Per VIP, `vip_stats` counts packets and bytes (per CPU); `lb_stats` counts connection-table
 * hits and misses.  Non-IPv4 frames, other IP protocols and traffic to no VIP pass to the
 * host; IPv4 options, fragments and frames cut short inside a header are dropped. */
#include "xdpnic.h"

#define MAX_VIPS 16
#define RING_SIZE 64            /* slots per VIP; a power of two */
#define MAX_REALS 64
#define OUTER_TTL 64
#define JHASH_INITVAL 0xdeadbeef

enum lb_stat { CONN_HIT, CONN_MISS, LB_STATS };

struct vip_key {
    __be32 addr;
    __be16 port;
    __u8 proto;
    __u8 pad;               /* zero */
};

struct flow {
    __be32 saddr;
    __be32 daddr;
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 pad[3];            /* zero */
};

struct lb_config {
    __u8 gw_mac[ETH_ALEN];  /* the next hop toward every real server */
    __u16 pad;
    __be32 tunnel_src;      /* outer source address */
};

struct counter {
    __u64 packets;
    __u64 bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct vip_key);
    __type(value, __u32);           /* VIP number, < MAX_VIPS */
    __uint(max_entries, MAX_VIPS);
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);             /* vip number * RING_SIZE + slot */
    __type(value, __u32);           /* index into reals */
    __uint(max_entries, MAX_VIPS * RING_SIZE);
} ring SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __be32);          /* the real server's address */
    __uint(max_entries, MAX_REALS);
} reals SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, struct flow);
    __type(value, __u32);           /* index into reals */
    /* 256: the NIC's 512 CAM slots are shared by every hash, LRU and LPM map */
    __uint(max_entries, 256);
} conn_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct lb_config);
    __uint(max_entries, 1);
} lb_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct counter);
    __uint(max_entries, MAX_VIPS);
} vip_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, LB_STATS);
} lb_stats SEC(".maps");

/* Bob Jenkins' lookup3 final mix, as Linux include/linux/jhash.h has it. */
static __always_inline __u32 rol32(__u32 word, unsigned int shift)
{
    return (word << shift) | (word >> (32 - shift));
}

static __always_inline __u32 jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
    initval += JHASH_INITVAL + (3 << 2);
    a += initval;
    b += initval;
    c += initval;
    c ^= b; c -= rol32(b, 14);
    a ^= c; a -= rol32(c, 11);
    b ^= a; b -= rol32(a, 25);
    c ^= b; c -= rol32(b, 16);
    a ^= c; a -= rol32(c, 4);
    b ^= a; b -= rol32(a, 14);
    c ^= b; c -= rol32(b, 24);
    return c;
}

static __always_inline void count_stat(__u32 which)
{
    __u64 *value = bpf_map_lookup_elem(&lb_stats, &which);

    if (value)
        *value += 1;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 bytes = data_end - data;
    struct ethhdr *eth = data, *new_eth, *old_eth;
    struct iphdr *iph = data + sizeof(*eth);
    struct vip_key vk = {};
    struct flow flow = {};
    struct lb_config *config;
    struct counter *vs;
    __u32 *vip_num, *real_index, key, index, ports;
    __be32 *real;
    __u16 inner_len;
    __u8 inner_tos;

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    if ((void *)(iph + 1) > data_end)
        return XDP_DROP;
    if (iph->ihl != 5 || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
        return XDP_DROP;
    if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
        return XDP_PASS;
    /* Source and destination port lead both the TCP and the UDP header. */
    if ((void *)(iph + 1) + (iph->protocol == IPPROTO_TCP ? sizeof(struct tcphdr)
                                                          : sizeof(struct udphdr)) > data_end)
        return XDP_DROP;
    ports = *(__u32 *)(iph + 1);
    flow.saddr = iph->saddr;
    flow.daddr = iph->daddr;
    flow.sport = ((__be16 *)(iph + 1))[0];
    flow.dport = ((__be16 *)(iph + 1))[1];
    flow.proto = iph->protocol;
    inner_len = bpf_ntohs(iph->tot_len);
    inner_tos = iph->tos;

    vk.addr = flow.daddr;
    vk.port = flow.dport;
    vk.proto = flow.proto;
    vip_num = bpf_map_lookup_elem(&vips, &vk);
    if (!vip_num)
        return XDP_PASS;
    key = *vip_num;
    vs = bpf_map_lookup_elem(&vip_stats, &key);
    if (vs) {
        vs->packets += 1;
        vs->bytes += bytes;
    }

    real_index = bpf_map_lookup_elem(&conn_table, &flow);
    if (real_index) {
        index = *real_index;
        count_stat(CONN_HIT);
    } else {
        key = key * RING_SIZE +
              (jhash_3words(flow.saddr, flow.daddr, ports, key) & (RING_SIZE - 1));
        real_index = bpf_map_lookup_elem(&ring, &key);
        if (!real_index)
            return XDP_DROP;
        index = *real_index;
        bpf_map_update_elem(&conn_table, &flow, &index, BPF_ANY);
        count_stat(CONN_MISS);
    }
    real = bpf_map_lookup_elem(&reals, &index);
    if (!real || !*real)
        return XDP_DROP;
    key = 0;
    config = bpf_map_lookup_elem(&lb_config, &key);
    if (!config)
        return XDP_DROP;

    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    new_eth = data;
    iph = data + sizeof(*new_eth);
    old_eth = data + sizeof(*iph);
    if ((void *)(old_eth + 1) > data_end)
        return XDP_DROP;
    /* The old Ethernet header now lies under the outer IPv4 header: read it first. */
    __builtin_memcpy(new_eth->h_source, old_eth->h_dest, ETH_ALEN);
    __builtin_memcpy(new_eth->h_dest, config->gw_mac, ETH_ALEN);
    new_eth->h_proto = bpf_htons(ETH_P_IP);

    iph->version = 4;
    iph->ihl = 5;
    iph->tos = inner_tos;
    iph->tot_len = bpf_htons(inner_len + sizeof(*iph));
    iph->id = 0;
    iph->frag_off = 0;
    iph->ttl = OUTER_TTL;
    iph->protocol = IPPROTO_IPIP;
    iph->saddr = config->tunnel_src;
    iph->daddr = *real;
    ipv4_set_csum(iph);
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
