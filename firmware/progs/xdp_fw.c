/* xdp_fw: a stateful 5-tuple firewall for IPv4 TCP and UDP.
 *
 * A packet of a tracked connection (its 5-tuple, or the reversed one for replies, is in the
 * LRU hash `conntrack`) passes to the host.  Otherwise the rules decide: `rules` is keyed by
 * (destination address, destination port, protocol), with address 0 as the wildcard tried
 * second.  An ALLOW rule opens a connection (a new TCP connection must start with a SYN
 * without ACK) and passes the packet; a DENY rule drops it; with no rule the packet is dropped
 * (default deny, counted as rule 0).  A TCP RST closes the connection it belongs to.
 * `rule_stats` counts packets and bytes per rule id (per CPU); a connection's packets count
 * under the rule that opened it.  ARP passes (the host needs it); every other non-IPv4 frame,
 * IPv4 with options, other IP protocols, and frames cut short inside a header are dropped
 * under rule 0. */
#include "xdpnic.h"

#define MAX_RULES 64
#define DEFAULT_RULE 0

/* TCP flags, as bits of the header's byte 13. Ref: RFC 9293 section 3.1. */
#define TCP_FLAG_RST_BYTE 0x04
#define TCP_FLAG_SYN_BYTE 0x02
#define TCP_FLAG_ACK_BYTE 0x10

enum fw_action { FW_DENY = 0, FW_ALLOW = 1 };

struct flow {
    __be32 saddr;
    __be32 daddr;
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 pad[3];            /* zero */
};

struct rule_key {
    __be32 daddr;           /* 0: any destination */
    __be16 dport;
    __u8 proto;
    __u8 pad;               /* zero */
};

struct rule {
    __u32 action;           /* enum fw_action */
    __u32 id;               /* index into rule_stats, 1..MAX_RULES-1 */
};

struct conn {
    __u32 rule_id;
    __u32 pad;
    __u64 packets;          /* both directions */
};

struct counter {
    __u64 packets;
    __u64 bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct rule_key);
    __type(value, struct rule);
    __uint(max_entries, 256);
} rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, struct flow);
    __type(value, struct conn);
    /* 256: the NIC's 512 CAM slots are shared by every hash, LRU and LPM map */
    __uint(max_entries, 256);
} conntrack SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct counter);
    __uint(max_entries, MAX_RULES);
} rule_stats SEC(".maps");

/* The firewall's decision for one frame: XDP_PASS or XDP_DROP, and in *rule_id the rule the
 * frame counts under.  Returns -1 for a frame that is not counted (ARP, passed). */
static __always_inline int classify(void *data, void *data_end, __u32 *rule_id)
{
    struct ethhdr *eth = data;
    struct iphdr *iph = data + sizeof(*eth);
    struct flow key = {}, reply = {};
    struct rule_key rk = {};
    struct flow *tracked = &key;
    struct rule *rule;
    struct conn *conn;
    __u8 tcp_flags = 0;
    void *l4;

    *rule_id = DEFAULT_RULE;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    if (eth->h_proto == bpf_htons(ETH_P_ARP))
        return -1;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_DROP;
    /* IP options are refused (a common firewall stance), which keeps the transport header
     * at a fixed offset. */
    if ((void *)(iph + 1) > data_end || iph->ihl != 5)
        return XDP_DROP;
    l4 = iph + 1;
    if (iph->protocol == IPPROTO_TCP) {
        struct tcphdr *th = l4;

        if ((void *)(th + 1) > data_end)
            return XDP_DROP;
        tcp_flags = ((__u8 *)th)[13];
    } else if (iph->protocol == IPPROTO_UDP) {
        if (l4 + sizeof(struct udphdr) > data_end)
            return XDP_DROP;
    } else {
        return XDP_DROP;
    }
    /* Source and destination port lead both the TCP and the UDP header. */
    key.sport = ((__be16 *)l4)[0];
    key.dport = ((__be16 *)l4)[1];
    key.saddr = iph->saddr;
    key.daddr = iph->daddr;
    key.proto = iph->protocol;

    conn = bpf_map_lookup_elem(&conntrack, &key);
    if (!conn) {
        reply.saddr = key.daddr;
        reply.daddr = key.saddr;
        reply.sport = key.dport;
        reply.dport = key.sport;
        reply.proto = key.proto;
        tracked = &reply;
        conn = bpf_map_lookup_elem(&conntrack, &reply);
    }
    if (conn) {
        *rule_id = conn->rule_id;
        __sync_fetch_and_add(&conn->packets, 1);
        if (tcp_flags & TCP_FLAG_RST_BYTE)
            bpf_map_delete_elem(&conntrack, tracked);
        return XDP_PASS;
    }

    rk.daddr = key.daddr;
    rk.dport = key.dport;
    rk.proto = key.proto;
    rule = bpf_map_lookup_elem(&rules, &rk);
    if (!rule) {
        rk.daddr = 0;
        rule = bpf_map_lookup_elem(&rules, &rk);
        if (!rule)
            return XDP_DROP;
    }
    if (rule->action != FW_ALLOW) {
        *rule_id = rule->id;
        return XDP_DROP;
    }
    if (key.proto == IPPROTO_TCP &&
        (tcp_flags & (TCP_FLAG_SYN_BYTE | TCP_FLAG_ACK_BYTE | TCP_FLAG_RST_BYTE))
            != TCP_FLAG_SYN_BYTE)
        return XDP_DROP;            /* not the start of a connection: rule 0 */
    *rule_id = rule->id;
    {
        struct conn fresh = { .rule_id = rule->id, .packets = 1 };

        bpf_map_update_elem(&conntrack, &key, &fresh, BPF_NOEXIST);
    }
    return XDP_PASS;
}

SEC("xdp")
int xdp_fw(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct counter *c;
    __u32 rule_id;
    int action;

    action = classify(data, data_end, &rule_id);
    if (action < 0)
        return XDP_PASS;
    c = bpf_map_lookup_elem(&rule_stats, &rule_id);
    if (c) {
        c->packets += 1;
        c->bytes += data_end - data;
    }
    return action;
}

char _license[] SEC("license") = "GPL";
