/* xdp_cpu_steer: a CPUMAP steering filter.  IPv4 UDP/TCP flows are spread over the host's
 * receive queues (CPUMAP entries: on xdpnic an entry is a host queue) by a hash of their
 * addresses and ports; UDP flows whose destination port is in `port_fwd` (a DEVMAP_HASH keyed
 * by port) leave by that port's device instead; UDP to port 9 (discard) is dropped; anything
 * else goes to the host unchanged.  `steered` counts the frames sent to each queue.
 * After the CPU-redirect programs of Linux samples/bpf/xdp_redirect_cpu and Suricata's
 * xdp_lb, written for xdpnic. */
#include "xdpnic.h"

#define MAX_QUEUES 4
#define DISCARD_PORT 9

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __type(key, __u32);
    __type(value, struct bpf_cpumap_val);
    __uint(max_entries, MAX_QUEUES);
} cpu_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 8);
} port_fwd SEC(".maps");

/* key 0: how many queues to spread over (1..MAX_QUEUES; 0 sends every flow to queue 0) */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} queue_count SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, MAX_QUEUES);
} steered SEC(".maps");

SEC("xdp")
int xdp_cpu_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 off = 0;
    __be16 proto;
    __u32 zero = 0, queues = 1, queue, hash, port;
    __u32 *count;
    __u64 *seen;
    struct iphdr *iph;
    struct udphdr *l4;      /* the ports of UDP and TCP share their place */

    if (parse_eth(data, data_end, &off, &proto) < 0)
        return XDP_DROP;
    if (proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    iph = data + off;
    if ((void *)(iph + 1) > data_end || iph->ihl != 5)
        return XDP_PASS;
    if (iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_TCP)
        return XDP_PASS;
    l4 = (void *)(iph + 1);
    if ((void *)(l4 + 1) > data_end)
        return XDP_DROP;
    if (iph->protocol == IPPROTO_UDP) {
        port = bpf_ntohs(l4->dest);
        if (port == DISCARD_PORT)
            return XDP_DROP;
        if (port >= 1024) {
            /* a forwarded port leaves by its device; one without goes on to the queues */
            long action = bpf_redirect_map(&port_fwd, port, XDP_ABORTED);
            if (action == XDP_REDIRECT)
                return action;
        }
    }
    count = bpf_map_lookup_elem(&queue_count, &zero);
    if (count && *count >= 1 && *count <= MAX_QUEUES)
        queues = *count;
    hash = iph->saddr ^ iph->daddr ^ ((__u32)l4->source << 16 | l4->dest);
    hash ^= hash >> 16;
    hash ^= hash >> 8;
    queue = hash % queues;
    seen = bpf_map_lookup_elem(&steered, &queue);
    if (seen)
        __sync_fetch_and_add(seen, 1);
    return bpf_redirect_map(&cpu_map, queue, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
