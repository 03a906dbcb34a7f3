/* xdp_tail_dispatch: a root program that hands each frame to a program per EtherType through
 * a PROG_ARRAY, as Katran's and xdp-tools' dispatchers chain their stages with tail calls.
 * Slot 0 (IPv4) reflects the frame with its MACs swapped, slot 1 (IPv6) drops it; slot 2 (any
 * other EtherType) starts empty, so the tail call fails and the root passes the frame.  The
 * loader fills slots 0 and 1 from __array(values, ...); the host may fill slot 2.
 * `stats`: frames handled by slot 0, slot 1, and frames no program took (index 2). */
#include "xdpnic.h"

enum { SLOT_IPV4, SLOT_IPV6, SLOT_OTHER, SLOTS };

int xdp_ipv4(struct xdp_md *ctx);
int xdp_ipv6(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, SLOTS);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} stages SEC(".maps") = {
    .values = { [SLOT_IPV4] = (void *)&xdp_ipv4, [SLOT_IPV6] = (void *)&xdp_ipv6 },
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, SLOTS);
} stats SEC(".maps");

static __always_inline void count(__u32 index)
{
    __u64 *value = bpf_map_lookup_elem(&stats, &index);

    if (value)
        __sync_fetch_and_add(value, 1);
}

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 off;
    __be16 proto;

    if (parse_eth(data, data_end, &off, &proto) < 0)
        return XDP_DROP;
    if (proto == bpf_htons(ETH_P_IP))
        bpf_tail_call(ctx, &stages, SLOT_IPV4);
    else if (proto == bpf_htons(ETH_P_IPV6))
        bpf_tail_call(ctx, &stages, SLOT_IPV6);
    else
        bpf_tail_call(ctx, &stages, SLOT_OTHER);
    count(SLOT_OTHER);          /* no program in the slot */
    return XDP_PASS;
}

SEC("xdp")
int xdp_ipv4(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;

    if (data + sizeof(struct ethhdr) > data_end)
        return XDP_DROP;
    count(SLOT_IPV4);
    swap_macs(data);
    return XDP_TX;
}

SEC("xdp")
int xdp_ipv6(struct xdp_md *ctx)
{
    count(SLOT_IPV6);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
