/* Loader test: section names of programs written for libbpf < 1.0 (samples/bpf,
 * xdp-tutorial): "xdp1", "xdp_icmp" are XDP by libbpf's sloppy "xdp" prefix; "prog" gives no
 * type at all. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp1")
int xdp_legacy_drop(struct xdp_md *ctx)
{
    return XDP_DROP;
}

SEC("xdp_icmp")
int xdp_legacy_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}

SEC("prog")
int untyped_tx(struct xdp_md *ctx)
{
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
