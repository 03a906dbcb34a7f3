/* Loader test: several programs in one object, in sections of different program types and
 * two programs sharing the "xdp" section. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}

SEC("xdp")
int xdp_also_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}

SEC("xdp/drop")
int xdp_drop(struct xdp_md *ctx)
{
    return XDP_DROP;
}

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
    return XDP_PASS;
}

SEC("tc")
int tc_ok(struct __sk_buff *skb)
{
    return TC_ACT_OK;
}

SEC("classifier/egress")
int cls_ok(struct __sk_buff *skb)
{
    return TC_ACT_OK;
}

SEC("socket")
int sock_all(struct __sk_buff *skb)
{
    return skb->len;
}

SEC("kprobe/unknown_to_the_nic")
int probe(void *ctx)
{
    return 0;
}

SEC("my_section")
int custom(void *ctx)
{
    return 1;
}

char _license[] SEC("license") = "GPL";
