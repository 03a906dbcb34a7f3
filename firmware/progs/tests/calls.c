/* Loader test: bpf-to-bpf calls into .text.  xdp_calls calls add_one (global), which calls
 * twice (static), then calls square (static) directly, so libbpf's depth-first append order
 * is xdp_calls, add_one, twice, square.  xdp_other shares twice. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int twice(int x)
{
    return x * 2;
}

static __attribute__((noinline)) int square(int x)
{
    return x * x;
}

__attribute__((noinline)) int add_one(int x)
{
    return twice(x) + 1;
}

SEC("xdp")
int xdp_calls(struct xdp_md *ctx)
{
    int a = add_one(ctx->rx_queue_index);

    return square(a) & 3;
}

SEC("xdp/other")
int xdp_other(struct xdp_md *ctx)
{
    return twice(ctx->ingress_ifindex) & 1;
}

char _license[] SEC("license") = "GPL";
