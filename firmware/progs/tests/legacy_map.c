/* Loader test: maps declared the legacy way, struct bpf_map_def in SEC("maps"). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* libbpf 1.0 dropped this from bpf_helpers.h; the layout is the kernel samples' one. */
struct bpf_map_def {
    unsigned int type;
    unsigned int key_size;
    unsigned int value_size;
    unsigned int max_entries;
    unsigned int map_flags;
};

struct bpf_map_def SEC("maps") tx_port = {
    .type = BPF_MAP_TYPE_DEVMAP,
    .key_size = sizeof(int),
    .value_size = sizeof(int),
    .max_entries = 64,
};

struct bpf_map_def SEC("maps") counters = {
    .type = BPF_MAP_TYPE_PERCPU_ARRAY,
    .key_size = sizeof(__u32),
    .value_size = sizeof(__u64),
    .max_entries = 256,
    .map_flags = 0,
};

/* BPF_ANNOTATE_KV_PAIR(counters, __u32, __u64), as the kernel samples spelled it: a struct
 * named ____btf_map_<map> whose members give the key and value types in BTF. */
struct ____btf_map_counters {
    __u32 key;
    __u64 value;
};
struct ____btf_map_counters __attribute__((section(".maps.counters"), used))
    ____btf_map_counters = {};

SEC("xdp")
int xdp_redirect_legacy(struct xdp_md *ctx)
{
    __u32 key = ctx->rx_queue_index;
    __u64 *count = bpf_map_lookup_elem(&counters, &key);

    if (count)
        *count += 1;
    return bpf_redirect_map(&tx_port, 0, 0);
}

char _license[] SEC("license") = "Dual BSD/GPL";
