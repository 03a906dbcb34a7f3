/* Shared definitions for the xdpnic XDP programs: header structs the uapi lacks, bounds-checked
 * header parsing, MAC swap and the Internet checksum helpers (folding bpf_csum_diff sums).
 *
 * Every parser takes the cursor `*off` (bytes from data) and data_end, checks the whole header
 * lies inside the frame before returning a pointer to it, and advances the cursor; NULL means
 * the frame is too short.  Only helpers the NIC offers are used (see docs/firmware.md). */
#ifndef XDPNIC_H
#define XDPNIC_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* 802.1Q / 802.1ad tag (the uapi keeps struct vlan_hdr kernel-internal). */
struct vlan_hdr {
    __be16 h_vlan_TCI;
    __be16 h_vlan_encapsulated_proto;
};

/* ICMP header as a "destination unreachable / fragmentation needed" message lays it out
 * (linux/icmp.h is avoided: it drags in libc's socket headers, which -target bpf lacks).
 * Ref: RFC 792, RFC 1191 section 4. */
struct icmp_frag_hdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be16 unused;
    __be16 mtu;
};

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

/* IPv4 frag_off bits (host order; the uapi keeps them kernel-internal). Ref: RFC 791. */
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

#define VLAN_MAX_DEPTH 2

static __always_inline int proto_is_vlan(__u16 h_proto)
{
    return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/* The Ethernet header and up to VLAN_MAX_DEPTH VLAN tags; returns the inner EtherType in
 * network order (in *proto), or -1 when a header is cut short. */
static __always_inline int parse_eth(void *data, void *data_end, __u64 *off, __be16 *proto)
{
    struct ethhdr *eth = data;
    __be16 h_proto;

    if ((void *)(eth + 1) > data_end)
        return -1;
    *off = sizeof(*eth);
    h_proto = eth->h_proto;
#pragma unroll
    for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
        struct vlan_hdr *vh;

        if (!proto_is_vlan(h_proto))
            break;
        vh = data + *off;
        if ((void *)(vh + 1) > data_end)
            return -1;
        *off += sizeof(*vh);
        h_proto = vh->h_vlan_encapsulated_proto;
    }
    *proto = h_proto;
    return 0;
}

/* Swap source and destination MAC in 16-bit words (the Ethernet header starts the frame,
 * which the NIC and the kernel both place 2-byte aligned); byte copies would take 4x the
 * instructions, since struct ethhdr only has byte alignment. */
static __always_inline void swap_macs(void *eth)
{
    __u16 *p = eth;
    __u16 a = p[0], b = p[1], c = p[2];

    p[0] = p[3];
    p[1] = p[4];
    p[2] = p[5];
    p[3] = a;
    p[4] = b;
    p[5] = c;
}

/* Fold a 32-bit one's-complement sum (bpf_csum_diff's result) to the 16-bit checksum field
 * value: complemented, in the byte order the sum was taken in (so it is stored as is). */
static __always_inline __u16 csum_fold(__u64 csum)
{
    csum = (csum & 0xffff) + (csum >> 16);
    csum = (csum & 0xffff) + (csum >> 16);
    return (__u16)~csum;
}

/* Recompute an option-less IPv4 header's checksum in place. */
static __always_inline void ipv4_set_csum(struct iphdr *iph)
{
    iph->check = 0;
    iph->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)iph, sizeof(*iph), 0));
}

/* RFC 1624 incremental update for a TTL decrement (what the kernel's ip_decrease_ttl does):
 * the TTL is the high byte of its 16-bit word, so the sum drops by 0x0100 and the checksum,
 * its complement, rises by 0x0100 with an end-around carry. */
static __always_inline void ipv4_decrease_ttl(struct iphdr *iph)
{
    __u32 check = iph->check;

    check += bpf_htons(0x0100);
    iph->check = (__u16)(check + (check >= 0xFFFF));
    iph->ttl--;
}

#endif /* XDPNIC_H */
