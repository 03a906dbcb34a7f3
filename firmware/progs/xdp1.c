/* xdp1: count packets per IP protocol (per-CPU array `rxcnt`, index = IPv4 protocol or IPv6
 * next header, 0 for non-IP and cut-short IP headers) and drop them all.
 * After Linux samples/bpf/xdp1_kern.c. */
#include "xdp_proto_count.h"

SEC("xdp")
int xdp1(struct xdp_md *ctx)
{
    count_protocol(ctx);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
