/* Loader test: a function address (bpf_loop's callback), loaded by lddw with
 * src = BPF_PSEUDO_FUNC, which the loader relocates like a call. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static int add_index(__u32 index, void *data)
{
    *(__u64 *)data += index;
    return 0;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
    __u64 sum = 0;

    bpf_loop(4, add_index, &sum, 0);
    return sum == 6 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
