/* Loader and tail-call test: a program that counts its runs in `runs` and tail-calls itself
 * through slot 0 of `jmp_table` (filled by the loader from __array(values, ...)); the kernel
 * allows 33 tail calls per frame, so a frame counts 34 runs and then passes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int xdp_chain(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} jmp_table SEC(".maps") = {
    .values = { [0] = (void *)&xdp_chain },
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} runs SEC(".maps");

SEC("xdp")
int xdp_chain(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *count = bpf_map_lookup_elem(&runs, &zero);

    if (count)
        __sync_fetch_and_add(count, 1);
    bpf_tail_call(ctx, &jmp_table, 0);
    bpf_tail_call(ctx, &jmp_table, 1);      /* an empty slot: falls through */
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
