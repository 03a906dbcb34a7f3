/* xdp_ping_reply: answer ICMP echo requests in the NIC.  The request becomes the reply in
 * place (Ethernet and IPv4 addresses swapped, ICMP type 8 -> 0, the ICMP checksum adjusted
 * for that one changed word, RFC 1624) and leaves by XDP_TX from the port it came in on;
 * every other frame passes to the host.  `replies` counts the replies sent. */
#include "xdpnic.h"

#define ICMP_ECHO_REQUEST 8
#define ICMP_ECHO_REPLY 0

/* The ICMP header's first word.  Ref: RFC 792. */
struct icmp_echo_hdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} replies SEC(".maps");

SEC("xdp")
int xdp_ping_reply(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *iph = data + sizeof(*eth);
    struct icmp_echo_hdr *icmp = data + sizeof(*eth) + sizeof(*iph);
    __u32 slot = 0;
    __u64 *n;
    __be32 addr;
    __u32 sum;

    if ((void *)(icmp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
        iph->ihl != 5 || iph->protocol != IPPROTO_ICMP || icmp->type != ICMP_ECHO_REQUEST ||
        icmp->code != 0)
        return XDP_PASS;
    swap_macs(eth);
    addr = iph->saddr;
    iph->saddr = iph->daddr;
    iph->daddr = addr;
    icmp->type = ICMP_ECHO_REPLY;
    /* HC' = ~(~HC + ~m + m') with m = 0x0800 (type 8, code 0), m' = 0 (RFC 1624 eqn. 3),
     * in network order: the type is the word's high byte. */
    sum = (__u16)~icmp->checksum + (__u16)~bpf_htons(ICMP_ECHO_REQUEST << 8);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    icmp->checksum = ~sum;
    n = bpf_map_lookup_elem(&replies, &slot);
    if (n)
        __sync_fetch_and_add(n, 1);
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
