/* Loader test (bad input): an object with maps and a .text function but no program section. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} unused SEC(".maps");

__attribute__((noinline)) int helper(int x)
{
    return x + 1;
}

char _license[] SEC("license") = "GPL";
