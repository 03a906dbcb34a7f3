# xdp_demo: the README demo's program.
#   ICMP over IPv4 is reflected: MAC addresses swapped, XDP_TX out of the port it came in on.
#   UDP over IPv4 to port 9 (discard) is dropped: XDP_DROP.
#   Everything else, and anything too short to parse, goes to the host: XDP_PASS.
# Header fields are loaded little-endian, so network-order constants appear byte-swapped.
    ldxw %r2, [%r1+0]           # r2 = ctx->data
    ldxw %r3, [%r1+4]           # r3 = ctx->data_end
    mov %r4, %r2
    add %r4, 34                 # Ethernet (14) + IPv4 without options (20)
    jgt %r4, %r3, pass
    ldxh %r5, [%r2+12]          # EtherType
    jne %r5, 0x0008, pass       # 0x0800, IPv4
    ldxb %r5, [%r2+14]          # version and IHL
    jne %r5, 0x45, pass         # IPv4 with a 20-byte header only
    ldxb %r5, [%r2+23]          # IP protocol
    jeq %r5, 1, reflect         # ICMP
    jne %r5, 17, pass           # not UDP
    mov %r4, %r2
    add %r4, 42                 # + UDP header (8)
    jgt %r4, %r3, pass
    ldxh %r5, [%r2+36]          # UDP destination port
    jne %r5, 0x0900, pass       # 9, the discard port
    mov %r0, 1                  # XDP_DROP
    exit
reflect:
    ldxw %r5, [%r2+0]           # destination MAC
    ldxh %r6, [%r2+4]
    ldxw %r7, [%r2+6]           # source MAC
    ldxh %r8, [%r2+10]
    stxw [%r2+0], %r7
    stxh [%r2+4], %r8
    stxw [%r2+6], %r5
    stxh [%r2+10], %r6
    mov %r0, 3                  # XDP_TX
    exit
pass:
    mov %r0, 2                  # XDP_PASS
    exit
