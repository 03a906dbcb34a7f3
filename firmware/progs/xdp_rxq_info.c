/* xdp_rxq_info: count frames per receive queue and per ingress interface, then apply the
 * verdict the host put in `config_map` (typically XDP_DROP, or XDP_TX with SWAP_MAC).
 * A frame from an interface other than config.ifindex (when that is not 0) is counted as an
 * issue in the global record and aborted.  Queues (interfaces) beyond the per-queue
 * (per-interface) arrays are counted, with an issue, in their last slot.  The READ_MEM and
 * SWAP_MAC options touch the frame: an 802.3 frame (length field instead of an EtherType) is
 * aborted then.  After Linux samples/bpf/xdp_rxq_info_kern.c, plus the per-interface count. */
#include "xdpnic.h"

#define MAX_RXQS 64
#define MAX_IFINDEX 64

enum rxq_options { READ_MEM = 0x1, SWAP_MAC = 0x2 };

struct datarec {
    __u64 processed;
    __u64 issue;
};

struct config {
    __u32 action;       /* the XDP verdict for every frame */
    __u32 ifindex;      /* the interface frames should arrive on; 0: any */
    __u32 options;      /* enum rxq_options */
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct config);
    __uint(max_entries, 1);
} config_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct datarec);
    __uint(max_entries, 1);
} stats_global_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct datarec);
    __uint(max_entries, MAX_RXQS + 1);
} rx_queue_index_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct datarec);
    __uint(max_entries, MAX_IFINDEX + 1);
} ifindex_map SEC(".maps");

/* Count one frame in slot `key` of a per-slot array; keys past `last` go to `last`, as an
 * issue.  Returns -1 when the lookup fails (it cannot, for an array). */
static __always_inline int count_slot(void *map, __u32 key, __u32 last)
{
    struct datarec *rec;

    if (key > last)
        key = last;
    rec = bpf_map_lookup_elem(map, &key);
    if (!rec)
        return -1;
    rec->processed++;
    if (key == last)
        rec->issue++;
    return 0;
}

SEC("xdp")
int xdp_rxq_info(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 ifindex = ctx->ingress_ifindex;
    struct datarec *rec;
    struct config *config;
    __u32 key = 0;

    rec = bpf_map_lookup_elem(&stats_global_map, &key);
    if (!rec)
        return XDP_ABORTED;
    rec->processed++;
    config = bpf_map_lookup_elem(&config_map, &key);
    if (!config)
        return XDP_ABORTED;
    if (config->ifindex && ifindex != config->ifindex) {
        rec->issue++;
        return XDP_ABORTED;
    }
    if (count_slot(&ifindex_map, ifindex, MAX_IFINDEX) ||
        count_slot(&rx_queue_index_map, ctx->rx_queue_index, MAX_RXQS))
        return XDP_ABORTED;

    if (config->options & (READ_MEM | SWAP_MAC)) {
        struct ethhdr *eth = data;

        if ((void *)(eth + 1) > data_end)
            return XDP_ABORTED;
        if (bpf_ntohs(eth->h_proto) < ETH_P_802_3_MIN)
            return XDP_ABORTED;
        if (config->options & SWAP_MAC)
            swap_macs(eth);
    }
    return config->action;
}

char _license[] SEC("license") = "GPL";
