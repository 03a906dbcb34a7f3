/* xdp_blocklist: drop IPv4 frames whose source address is in the `blocklist` hash, pass the
 * rest to the host.  The demo of `xdpnic attach`: the host blocks a sender while it pings by
 * adding its address with `xdpnic map update blocklist key ... value ...`.
 *
 * `blocklist` maps a source address (network order) to the frames dropped for it; `stats`
 * counts frames per verdict (0: passed, 1: dropped). */
#include "xdpnic.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __be32);
    __type(value, __u64);
    __uint(max_entries, 64);
} blocklist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 2);
} stats SEC(".maps");

static __always_inline int count(__u32 slot, int action)
{
    __u64 *n = bpf_map_lookup_elem(&stats, &slot);

    if (n)
        __sync_fetch_and_add(n, 1);
    return action;
}

SEC("xdp")
int xdp_blocklist(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph = data + sizeof(*eth);
    __u64 *dropped;
    __be32 saddr;

    if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return count(0, XDP_PASS);
    saddr = iph->saddr;
    dropped = bpf_map_lookup_elem(&blocklist, &saddr);
    if (!dropped)
        return count(0, XDP_PASS);
    __sync_fetch_and_add(dropped, 1);
    return count(1, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
