// Cluster model for the simulator: what one message and one step cost.
//
// A message from rank a to rank b on the same node crosses a's intra-node
// send port and b's intra-node receive port; between nodes it crosses the
// send queue of a's NIC and the receive queue of b's NIC (and, with an
// oversubscribed spine, the uplink of a's leaf switch and the downlink of
// b's). Every port is a full-duplex FIFO that serializes the messages it
// carries, so congestion (two children sending to one tree parent, eight
// ranks sharing one NIC) shows up as queueing. Each rank also has one
// engine, the thread that runs its executor, which serializes the software
// work: issuing a send, copying or reducing a received chunk out of its
// staging slot, local copies.
#pragma once

#include <string>
#include <vector>

namespace shoal::sim {

struct Profile {
  std::string name;
  std::string transport = "verbs";  // whose tuner defaults "tuner" columns use
  // Intra-node port per rank, per direction.
  double intraGBps = 450;
  double intraLatUs = 0.7;
  // NIC, per direction; nicsPerNode 0 means one NIC per rank.
  double nicGBps = 50;
  double nicLatUs = 2.0;
  int nicsPerNode = 0;
  // Wire payload efficiency: MTU payload / (payload + per-packet headers).
  double mtuBytes = 4096;
  double packetHeaderBytes = 0;
  // Spine: nodes per leaf switch and the leaf's uplink oversubscription
  // (1: non-blocking, the spine is not modelled).
  int leafNodes = 32;
  double oversub = 1;
  // Software, per rank engine.
  double stepUs = 0.5;        // issuing a send, or finishing a receive
  double localStepUs = 0.1;   // a local step (copy, average, dependency join)
  double reduceGBps = 600;    // RecvReduce/Avg input bytes per second
  double copyGBps = 1000;     // Recv/Copy: slot to destination
  double senderCopyGBps = 0;  // > 0: the sender's engine copies the data (shm)
  double ctrlLatUs = -1;      // credit return; < 0: the data latency of that link
  int coresPerNode = 0;       // > 0 and fewer than ranks per node: engines share cores
};

// Named profiles: "ndr400", "this-machine-shm". Throws shoal::Error naming
// the known ones otherwise.
Profile namedProfile(const std::string& name);
std::vector<std::string> profileNames();
// Applies "key=value" (a field name above, e.g. nicGBps=25); throws on an
// unknown key or a bad number.
void setProfileField(Profile* p, const std::string& assignment);
// One line per field, "key value", for output headers.
std::string describeProfile(const Profile& p);

}  // namespace shoal::sim
