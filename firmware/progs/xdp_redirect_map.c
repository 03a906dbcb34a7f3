/* xdp_redirect_map: forward every frame, MAC addresses swapped, to the port in slot 0 of the
 * devmap `tx_port` (the host sets and changes it); with the slot empty the frame is dropped.
 * `rxcnt` counts frames (per CPU).  After Linux samples/bpf/xdp_redirect_map_kern.c. */
#include "xdpnic.h"

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} tx_port SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} rxcnt SEC(".maps");

SEC("xdp")
int xdp_redirect_map(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 key = 0;
    __u64 *value;

    if (data + sizeof(struct ethhdr) > data_end)
        return XDP_DROP;
    swap_macs(data);
    value = bpf_map_lookup_elem(&rxcnt, &key);
    if (value)
        *value += 1;
    return bpf_redirect_map(&tx_port, 0, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
