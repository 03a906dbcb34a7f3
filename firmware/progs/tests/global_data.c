/* Loader test: global data in .data, .rodata, .bss and a string literal section, each
 * becoming a single-entry array map referenced by lddw with a map-value offset. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int packets = 3;
int bytes = 0x1234;
const volatile __u32 drop_port = 53;
const volatile __u32 pass_port = 80;
__u64 seen;
static volatile __u32 last_len;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
    const char *tag = "xdpnic";
    __u32 len = ctx->data_end - ctx->data;

    packets += 1;
    bytes += len;
    seen += 1;
    last_len = len;
    if (len == drop_port)
        return XDP_DROP;
    if (len == pass_port)
        return tag[len & 3];
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
