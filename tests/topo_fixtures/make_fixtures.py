#!/usr/bin/env python3
"""Writes the hwloc v2 XML topologies that tests/topology_test.cc reads.

The files are committed; run this again only to change them:
    python3 tests/topo_fixtures/make_fixtures.py
    lstopo-no-graphics -i tests/topo_fixtures/<name>.xml   # hwloc's own check

Fixtures (PU numbering as Linux does it: first threads of all cores, then
the second threads):
  cpu_2socket.xml             2 sockets x 4 cores x 2 threads, one NUMA node
                              each, no GPU; an InfiniBand NIC per socket
                              (mlx5_0 on 0, mlx5_1 on 1) and a plain Ethernet
                              port (eno1, no RDMA) on socket 0.
  dgx_h100_like.xml           2 sockets x 8 cores x 2 threads, 8 GPUs, 8
                              InfiniBand NICs plus one RoCE storage NIC.
                              Each socket has two host bridges; under each, a
                              root port, a top PCIe switch and two leaf
                              switches; each leaf switch holds one GPU and one
                              NIC (GPU g with mlx5_g, so GPU g - mlx5_g is PIX,
                              g - mlx5_(g^1) PXB, other host bridge of the
                              socket NODE, other socket SYS). The storage NIC
                              mlx5_8 sits on its own root port of socket 0's
                              first host bridge (PHB to GPUs 0-1).
  gpu_nic_across_sockets.xml  2 sockets x 4 cores x 2 threads; one InfiniBand
                              NIC (mlx5_0) on socket 0; two GPUs behind one
                              switch on socket 1, with no CUDA/NVML devices
                              (so they are named by bus id): both SYS.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def bitmap(bits):
    """hwloc's bitmap text: 32-bit hex words, most significant first."""
    value = 0
    for b in bits:
        value |= 1 << b
    words = []
    while True:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
        if value == 0:
            break
    return ",".join("0x%08x" % w for w in reversed(words))


class Gen:
    def __init__(self):
        self.gp = 0

    def gp_index(self):
        self.gp += 1
        return self.gp


def attrs(d):
    return " ".join('%s="%s"' % (k, v) for k, v in d.items())


def element(tag_attrs, children, infos=(), indent=0):
    pad = "  " * indent
    lines = []
    inner = ["%s  <info name=\"%s\" value=\"%s\"/>" % (pad, k, v) for k, v in infos]
    for c in children:
        inner.extend(c(indent + 1))
    if inner:
        lines.append("%s<object %s>" % (pad, attrs(tag_attrs)))
        lines.extend(inner)
        lines.append("%s</object>" % pad)
    else:
        lines.append("%s<object %s/>" % (pad, attrs(tag_attrs)))
    return lines


def node(tag_attrs, children=(), infos=()):
    return lambda indent: element(tag_attrs, list(children), infos, indent)


def cpu_attrs(typ, os_index, cpus, nodes, g):
    return {"type": typ, "os_index": os_index, "cpuset": bitmap(cpus),
            "complete_cpuset": bitmap(cpus), "nodeset": bitmap(nodes),
            "complete_nodeset": bitmap(nodes), "gp_index": g.gp_index()}


def pu(g, i, nodes):
    return node(cpu_attrs("PU", i, [i], nodes, g))


def core(g, index, pus, nodes):
    return node(cpu_attrs("Core", index, pus, nodes, g), [pu(g, p, nodes) for p in pus])


def numa(g, index, cpus, mem=64 << 30):
    a = cpu_attrs("NUMANode", index, cpus, [index], g)
    a["local_memory"] = mem
    return node(a)


def osdev(g, name, typ, subtype=None, infos=()):
    a = {"type": "OSDev", "gp_index": g.gp_index(), "name": name, "osdev_type": typ}
    if subtype:
        a["subtype"] = subtype
    return node(a, [], infos)


OSDEV_GPU, OSDEV_NETWORK, OSDEV_OPENFABRICS, OSDEV_COPROC = 1, 2, 3, 5


def pcidev(g, bus, cls, vendor, device, children=(), dev=0, func=0, infos=()):
    a = {"type": "PCIDev", "gp_index": g.gp_index(),
         "pci_busid": "0000:%02x:%02x.%x" % (bus, dev, func),
         "pci_type": "%04x [%04x:%04x] [%04x:0000] 00" % (cls, vendor, device, vendor),
         "pci_link_speed": "32.000000"}
    return node(a, children, infos)


def pci_bridge(g, bus, sec, sub, depth, children, dev=0, vendor=0x1000, device=0xc030):
    a = {"type": "Bridge", "gp_index": g.gp_index(), "bridge_type": "1-1", "depth": depth,
         "bridge_pci": "0000:[%02x-%02x]" % (sec, sub),
         "pci_busid": "0000:%02x:%02x.0" % (bus, dev),
         "pci_type": "0604 [%04x:%04x] [0000:0000] 00" % (vendor, device),
         "pci_link_speed": "32.000000"}
    return node(a, children)


def host_bridge(g, first, last, children):
    a = {"type": "Bridge", "gp_index": g.gp_index(), "bridge_type": "0-1", "depth": 0,
         "bridge_pci": "0000:[%02x-%02x]" % (first, last)}
    return node(a, children)


def ib_nic(g, bus, index, cls=0x0207, netdev=None):
    # ConnectX-7; InfiniBand class 0x0207, Ethernet (RoCE) 0x0200.
    layer = "InfiniBand" if cls == 0x0207 else "Ethernet"
    return pcidev(g, bus, cls, 0x15b3, 0x1021, [
        osdev(g, netdev or "ib%d" % index, OSDEV_NETWORK),
        osdev(g, "mlx5_%d" % index, OSDEV_OPENFABRICS,
              infos=[("NodeGUID", "a088:c203:00%02x:0001" % index),
                     ("Port1State", "4"), ("Port1LinkLayer", layer)]),
    ])


def h100(g, bus, index, with_osdevs=True):
    kids = []
    if with_osdevs:
        kids = [osdev(g, "cuda%d" % index, OSDEV_COPROC, "CUDA",
                      [("Backend", "CUDA"), ("GPUVendor", "NVIDIA Corporation"),
                       ("GPUModel", "NVIDIA H100 80GB HBM3")]),
                osdev(g, "nvml%d" % index, OSDEV_GPU, "NVML",
                      [("Backend", "NVML"), ("GPUVendor", "NVIDIA Corporation")])]
    return pcidev(g, bus, 0x0302, 0x10de, 0x2330, kids,
                  infos=[("PCIVendor", "NVIDIA Corporation"), ("PCIDevice", "GH100 [H100 SXM5 80GB]")])


def package(g, index, cpus_by_core, node_index, io):
    cpus = sorted(p for c in cpus_by_core for p in c)
    children = [numa(g, node_index, cpus)]
    children += [core(g, index * len(cpus_by_core) + i, c, [node_index])
                 for i, c in enumerate(cpus_by_core)]
    children += io
    a = cpu_attrs("Package", index, cpus, [node_index], g)
    return node(a, children, [("CPUVendor", "GenuineIntel"),
                              ("CPUModel", "Intel(R) Xeon(R) Platinum 8480C")])


def machine(g, packages, all_cpus, nodes, infos):
    a = cpu_attrs("Machine", 0, all_cpus, nodes, g)
    a["allowed_cpuset"] = bitmap(all_cpus)
    a["allowed_nodeset"] = bitmap(nodes)
    base = [("Backend", "Linux"), ("OSName", "Linux"), ("Architecture", "x86_64")]
    return node(a, packages, base + list(infos))


def write(name, root):
    text = ['<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
            '<topology version="2.0">']
    text += root(1)
    text.append("</topology>")
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(text) + "\n")


def cores_of(socket, ncores, nsockets):
    """Linux numbering: core c of socket s has threads s*n+c and total+s*n+c."""
    total = ncores * nsockets
    return [[socket * ncores + c, total + socket * ncores + c] for c in range(ncores)]


def cpu_2socket():
    g = Gen()
    eth = pcidev(g, 0x19, 0x0200, 0x8086, 0x1563, [osdev(g, "eno1", OSDEV_NETWORK)])
    io0 = [host_bridge(g, 0x10, 0x1f, [
        pci_bridge(g, 0x10, 0x11, 0x11, 1, [ib_nic(g, 0x11, 0)], dev=1, vendor=0x8086,
                   device=0x352a),
        pci_bridge(g, 0x10, 0x19, 0x19, 1, [eth], dev=2, vendor=0x8086, device=0x352b)])]
    io1 = [host_bridge(g, 0x90, 0x9f, [
        pci_bridge(g, 0x90, 0x91, 0x91, 1, [ib_nic(g, 0x91, 1)], dev=1, vendor=0x8086,
                   device=0x352a)])]
    p0 = package(g, 0, cores_of(0, 4, 2), 0, io0)
    p1 = package(g, 1, cores_of(1, 4, 2), 1, io1)
    write("cpu_2socket.xml", machine(g, [p0, p1], list(range(16)), [0, 1],
                                     [("HostName", "cpu-node-a")]))


def dgx_h100_like():
    g = Gen()
    sockets = []
    for s in range(2):
        io = []
        for t in range(2):
            b = 0x18 + 0x20 * (2 * s + t)
            leaves = []
            for l in range(2):
                gpu = 4 * s + 2 * t + l
                usp = b + 3 + 4 * l
                leaf = pci_bridge(g, usp, usp + 1, usp + 3, 4, [
                    pci_bridge(g, usp + 1, usp + 2, usp + 2, 5, [h100(g, usp + 2, gpu)], dev=0),
                    pci_bridge(g, usp + 1, usp + 3, usp + 3, 5, [ib_nic(g, usp + 3, gpu)], dev=1),
                ])
                leaves.append(pci_bridge(g, b + 2, usp, usp + 3, 3, [leaf], dev=l))
            top = pci_bridge(g, b + 1, b + 2, b + 10, 2, leaves)
            root_ports = [pci_bridge(g, b, b + 1, b + 10, 1, [top], dev=1, vendor=0x8086,
                                     device=0x352a)]
            if s == 0 and t == 0:
                root_ports.append(pci_bridge(
                    g, b, b + 0x11, b + 0x11, 1,
                    [ib_nic(g, b + 0x11, 8, cls=0x0200, netdev="ens8np0")], dev=2,
                    vendor=0x8086, device=0x352b))
            io.append(host_bridge(g, b, b + 0x1f, root_ports))
        sockets.append(package(g, s, cores_of(s, 8, 2), s, io))
    write("dgx_h100_like.xml", machine(g, sockets, list(range(32)), [0, 1],
                                       [("HostName", "dgx-a"),
                                        ("DMIProductUUID", "3f1e9c6a-0d5b-4c8e-9a47-b1d2e3f40001")]))


def gpu_nic_across_sockets():
    g = Gen()
    io0 = [host_bridge(g, 0x10, 0x1f, [
        pci_bridge(g, 0x10, 0x11, 0x11, 1, [ib_nic(g, 0x11, 0)], dev=1, vendor=0x8086,
                   device=0x352a)])]
    switch = pci_bridge(g, 0x91, 0x92, 0x94, 2, [
        pci_bridge(g, 0x92, 0x93, 0x93, 3, [h100(g, 0x93, 0, with_osdevs=False)], dev=0),
        pci_bridge(g, 0x92, 0x94, 0x94, 3, [h100(g, 0x94, 1, with_osdevs=False)], dev=1)])
    io1 = [host_bridge(g, 0x90, 0x9f, [
        pci_bridge(g, 0x90, 0x91, 0x94, 1, [switch], dev=1, vendor=0x8086, device=0x352a)])]
    p0 = package(g, 0, cores_of(0, 4, 2), 0, io0)
    p1 = package(g, 1, cores_of(1, 4, 2), 1, io1)
    write("gpu_nic_across_sockets.xml", machine(g, [p0, p1], list(range(16)), [0, 1],
                                                [("HostName", "gpu-node-b")]))


if __name__ == "__main__":
    cpu_2socket()
    dgx_h100_like()
    gpu_nic_across_sockets()
