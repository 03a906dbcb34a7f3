/* Loader test: BTF-defined maps (a hash map keyed by a struct, an array map sized with
 * key_size/value_size), read from .maps and .BTF. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct flow_key);
    __type(value, __u64);
    __uint(max_entries, 1024);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(key_size, 4);
    __uint(value_size, 16);
    __uint(max_entries, 8);
} stats SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
    struct flow_key key = {};
    __u64 *packets;
    __u32 slot = 1;

    key.proto = 17;
    packets = bpf_map_lookup_elem(&flows, &key);
    if (packets)
        __sync_fetch_and_add(packets, 1);
    packets = bpf_map_lookup_elem(&stats, &slot);
    if (packets)
        *packets += 1;
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
