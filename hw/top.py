"""The NIC: the XDP datapath behind an AXI4-Lite control bus.

Ports (Verilog names, Amaranth joins with ``__``): ``clk``, ``rst``; ``s_axil__*`` (AXI4-Lite
slave, :mod:`hw.regs`); ``rx<p>__t*`` (AXI-Stream in from MAC p), ``tx<p>__t*`` (out to MAC p),
``host__t*`` (XDP_PASS frames to the host, metadata first); ``verdict_valid``/``verdict`` (one
record per frame, :mod:`hw.xdp.verdict`).

The host loads a program by writing the instruction window and ``PROG_LEN``, then sets
``CTRL.enable``.  Replacing a program: clear ``enable``, wait for ``STATUS.idle``, write, set
``enable`` again (no atomic swap: frames wait, or are dropped with ``drop_when_busy``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from hw import regs
from hw.bus.axil import AxiLiteSignature
from hw.bus.regbank import RegBank
from hw.xdp.axis import AxisSignature, check_data_width
from hw.xdp.datapath import Datapath
from hw.xdp.helpers import PacketHelpers
from hw.maps.unit import MAP_HELPERS, MAP_TYPES, MapUnit
from hw.xdp.misc import MiscHelpers
from hw.xdp.trace import TraceFifo
from hw.xdp.verdict import VerdictLayout

__all__ = ["NIC"]


class NIC(wiring.Component):
    """XDP-offload NIC.

    Parameters
    ----------
    ports : int
        Ethernet ports, at least 2 (default 2).
    data_width : int
        AXI-Stream data width in bits: 64 (default), 128, 256 or 512.
    imem_depth : int
        Instruction slots (default 4096).
    max_maps, cam_slots, key_bytes, map_bytes : int
        The map unit's limits (:class:`hw.maps.unit.MapUnit`): maps at once, CAM slots for
        hash/LRU/LPM maps, the longest hash key, bytes of map-value memory.
    engines : int
        eBPF engines sharing the map unit (1 .. ``machine.MAX_ENGINES``, default 1);
        ``CTRL.flow_hash`` picks how frames are spread over them.
    """

    def __init__(self, ports: int = 2, data_width: int = 64, imem_depth: int = 4096,
                 max_maps: int = 16, cam_slots: int = 512, key_bytes: int = 24,
                 map_bytes: int = 65536, engines: int = 1):
        if not isinstance(ports, int) or not 2 <= ports <= regs.MAX_PORTS:
            raise ValueError(f"ports must be an integer 2..{regs.MAX_PORTS}, not {ports!r}")
        check_data_width(data_width)
        self.ports = ports
        self.data_width = data_width
        self.imem_depth = imem_depth
        self.engines = engines
        self.datapath = Datapath(ports, data_width, imem_depth, engines)
        self.maps = MapUnit(max_maps, cam_slots, key_bytes, map_bytes, engines)
        members = {"s_axil": In(AxiLiteSignature(regs.ADDR_WIDTH, regs.DATA_WIDTH))}
        for p in range(ports):
            members[f"rx{p}"] = In(AxisSignature(data_width))
            members[f"tx{p}"] = Out(AxisSignature(data_width))
        members["host"] = Out(AxisSignature(data_width))
        members["verdict_valid"] = Out(1)
        members["verdict"] = Out(VerdictLayout)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.datapath = dp = self.datapath
        m.submodules.regbank = rb = RegBank(self.ports, self.imem_depth)
        m.submodules.trace = trace = TraceFifo()
        m.submodules.maps = maps = self.maps
        connect(m, flipped(self.s_axil), rb.bus)
        for p in range(self.ports):
            connect(m, flipped(getattr(self, f"rx{p}")), getattr(dp, f"rx{p}"))
            connect(m, getattr(dp, f"tx{p}"), flipped(getattr(self, f"tx{p}")))
        connect(m, dp.host, flipped(self.host))
        now = Signal(64)
        m.d.sync += now.eq(now + 1)
        m.d.comb += [dp.now.eq(now), dp.ns_per_cycle.eq(rb.ktime_ns_per_cycle)]
        connect(m, dp.trace, trace.push)
        m.d.comb += [rb.trace_status.eq(trace.words | trace.overflow << 16),
                     rb.trace_data.eq(trace.data), trace.pop.eq(rb.trace_data_rd),
                     trace.clear.eq(rb.ctrl[regs.CTRL.CLEAR_COUNTERS])]
        connect(m, dp.maps_req, maps.helper_req)
        m.d.comb += maps.helper_engine.eq(dp.maps_engine)
        connect(m, maps.helper_resp, dp.maps_resp)
        connect(m, dp.map_req, maps.core_req)
        connect(m, maps.core_resp, dp.map_resp)
        connect(m, maps.mem_req, dp.hmem_req)
        connect(m, dp.hmem_resp, maps.mem_resp)
        m.d.comb += [dp.redirect_set.eq(maps.redirect_set),
                     dp.redirect_set_ifindex.eq(maps.redirect_ifindex)]
        m.d.comb += [
            maps.cmd_wr.eq(rb.map_cmd_wr), maps.cmd.eq(rb.map_cmd),
            rb.map_status.eq(maps.busy), rb.map_result.eq(maps.result),
            maps.create_type.eq(rb.map_create_type),
            maps.create_key_size.eq(rb.map_create_key_size),
            maps.create_value_size.eq(rb.map_create_value_size),
            maps.create_max_entries.eq(rb.map_create_max_entries),
        ]
        for window in ("key", "value"):
            for port in ("addr", "wr_en", "wr_data", "wr_strb"):
                m.d.comb += getattr(maps, f"{window}_{port}").eq(
                    getattr(rb, f"map_{window}_{port}"))
            m.d.comb += getattr(rb, f"map_{window}_rd_data").eq(
                getattr(maps, f"{window}_rd_data"))
        helpers = set(MAP_HELPERS) | set(MiscHelpers.HELPERS) | set(PacketHelpers.HELPERS)
        m.d.comb += [
            rb.cap_helpers_lo.eq(sum(1 << h for h in helpers if h < 32)),
            rb.cap_helpers_hi.eq(sum(1 << (h - 32) for h in helpers if 32 <= h < 64)),
            rb.cap_helpers_ext.eq(sum(1 << (h - 64) for h in helpers if 64 <= h < 96)),
            rb.cap_map_types.eq(sum(1 << t for t in MAP_TYPES)),
            rb.cap_maps.eq(self.maps.max_maps | self.maps.key_bytes << 8 | self.engines << 16
                              | 1 << 24),
            rb.cap_map_slots.eq(self.maps.cam_slots),
            rb.cap_map_bytes.eq(self.maps.value_bytes),
        ]
        W = self.data_width // 8
        m.d.comb += [
            self.verdict_valid.eq(dp.verdict_valid), self.verdict.eq(dp.verdict),
            rb.id.eq(regs.ID_MAGIC),
            rb.config.eq(self.ports | (W << 8) | ((self.imem_depth - 1).bit_length() << 16)
                         | self.engines << 24),
            dp.enable.eq(rb.ctrl[regs.CTRL.ENABLE]),
            dp.drop_when_busy.eq(rb.ctrl[regs.CTRL.DROP_WHEN_BUSY]),
            dp.flow_hash.eq(rb.ctrl[regs.CTRL.FLOW_HASH]),
            dp.clear_counters.eq(rb.ctrl[regs.CTRL.CLEAR_COUNTERS]),
            rb.status.eq(dp.idle << regs.STATUS.IDLE | dp.core_busy << regs.STATUS.CORE_BUSY),
            dp.prog_len.eq(rb.prog_len), dp.budget.eq(rb.budget),
            dp.imem_wr_en.eq(rb.imem_wr_en), dp.imem_wr_addr.eq(rb.imem_wr_addr),
            dp.imem_wr_data.eq(rb.imem_wr_data),
            rb.last_cycles.eq(dp.last_cycles), rb.last_insns.eq(dp.last_insns),
            rb.last_r0.eq(dp.last_r0), rb.last_trap.eq(dp.last_trap),
            rb.last_trap_pc.eq(dp.last_trap_pc), rb.host_frames.eq(dp.host_frames),
            rb.port_counters.eq(dp.port_counters),
        ]
        for i, name in enumerate(regs.TRAP_COUNTERS):
            m.d.comb += getattr(rb, name.lower()).eq(dp.trap_counters[i])
        return m
