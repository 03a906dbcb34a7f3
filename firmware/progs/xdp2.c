/* xdp2: count packets per IP protocol as xdp1 does; UDP packets are sent back with their MAC
 * addresses swapped (XDP_TX), everything else is dropped.
 * After Linux samples/bpf/xdp2_kern.c (the program hXDP measures). */
#include "xdp_proto_count.h"

SEC("xdp")
int xdp2(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;

    if (count_protocol(ctx) == IPPROTO_UDP) {
        if (data + sizeof(struct ethhdr) > data_end)
            return XDP_DROP;        /* cannot happen: the parser checked it; for the verifier */
        swap_macs(data);
        return XDP_TX;
    }
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
