#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace imgflow::gateway {

// How many connections the server holds and how much one client address may take of them
// (docs/security.md, "Connection and request limits"). connection_budget.h sizes these for the
// machine; the values here are for a small one.
struct AdmissionLimits {
  // Every connection is a thread with its buffers (server.cpp): the whole server's bound.
  std::size_t max_connections = 128;
  // Of max_connections, kept for health/ready/metrics probes and SigV4-signed requests, so a
  // full anonymous share cannot lock out the operator or the monitor.
  std::size_t reserved_connections = 16;
  // One client address may hold no more connections, but for kReservedBeyondShare that serve
  // its probes; 0: no limit (behind a reverse proxy every client shares the proxy's address).
  std::size_t max_connections_per_ip = 28;
  // Anonymous requests one address may make per second, sustained (a token bucket); 0: no limit.
  double requests_per_second_per_ip = 100;
  // The bucket's size: the burst an address may spend at once after being quiet.
  double request_burst_per_ip = 200;
};

// The per-address key for `ip` (the text of an IPv4 or IPv6 address): an IPv4 address as it is
// (also when written IPv4-mapped, ::ffff:a.b.c.d), an IPv6 address as its /64, the block one
// subscriber is usually given and can rotate through at will. Text it cannot parse is its own key.
std::string client_key(std::string_view ip);

// Which connections may be opened and which requests may run, by the limits above. Connections
// take a slot from the shared pool while it has room, then from the reserve; a reserved slot
// serves only privileged requests (probes and signed requests), which can only be told once a
// request header has arrived. An address at max_connections_per_ip may still hold
// kReservedBeyondShare reserved slots, so that its own probes are not locked out by its other
// connections. Anonymous requests spend a token from their address's bucket. Time is passed
// in, so tests need no clock. Thread-safe.
class Admission {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Pool { kShared, kReserved };
  enum class Refusal { kNone, kCapacity, kPerIp };
  enum class Verdict { kAllowed, kReservedForPrivileged, kRateLimited };
  // Reserved slots an address may hold beyond its share: enough for a probe or two.
  static constexpr std::size_t kReservedBeyondShare = 2;

  // One admitted connection's hold on its slot; released when destroyed. Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

    bool admitted() const { return owner_ != nullptr; }
    Pool pool() const { return pool_; }
    bool beyond_share() const { return beyond_share_; }  // taken past the address's limit
    const std::string& key() const { return key_; }

   private:
    friend class Admission;
    Slot(Admission* owner, Pool pool, bool beyond_share, std::string key)
        : owner_(owner), pool_(pool), beyond_share_(beyond_share), key_(std::move(key)) {}
    void release();

    Admission* owner_ = nullptr;
    Pool pool_ = Pool::kShared;
    bool beyond_share_ = false;
    std::string key_;
  };

  // A slot, or why there is none.
  struct Admitted {
    Slot slot;
    Refusal refusal = Refusal::kNone;
  };

  explicit Admission(const AdmissionLimits& limits);

  // A new connection from `key` (see client_key): a shared slot, else a reserved one, else a
  // refusal: kPerIp when the address holds its limit and its reserved slots beyond it,
  // kCapacity when the slots it may take are all taken.
  Admitted admit(const std::string& key);

  // A reserved slot past the limits, for a connection that takes the place of one the server
  // has just cut for it (a reserved connection that had sent nothing). The cut one's slot comes
  // back when its thread ends, so the counts overshoot only for that moment.
  Admitted admit_in_place_of_cut(const std::string& key);

  // Whether a request may run on `slot`. `privileged`: a probe or a signed request
  // (is_privileged in handler.h); only other requests are charged to the address's bucket: a
  // forged signature is refused as cheaply as a throttled request would be.
  Verdict check_request(const Slot& slot, bool privileged, TimePoint now);

  // Drops addresses that hold no connection and whose bucket has refilled, so the table holds
  // only addresses seen recently. Call now and then (the server's watchdog does).
  void forget_idle(TimePoint now);

  struct Usage {
    std::size_t shared = 0;     // connections holding a shared slot
    std::size_t reserved = 0;   // connections holding a reserved slot
    std::size_t addresses = 0;  // addresses tracked
  };
  Usage usage() const;
  const AdmissionLimits& limits() const { return limits_; }

 private:
  struct Address {
    std::size_t connections = 0;   // within max_connections_per_ip
    std::size_t beyond_share = 0;  // reserved slots past it
    double tokens = 0;
    TimePoint refilled{};
    bool bucket_started = false;  // tokens are meaningful (a request was charged)
  };

  bool within_share(const Address& address) const;
  Admitted take(const std::string& key, Address& address, Pool pool, bool beyond_share);
  void release(const Slot& slot);
  bool take_token(Address& address, TimePoint now);
  bool bucket_full(const Address& address, TimePoint now) const;
  std::size_t shared_capacity() const;
  std::size_t reserve_capacity() const;

  const AdmissionLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Address, std::less<>> addresses_;  // guarded by mu_
  std::size_t shared_ = 0;                                 // guarded by mu_
  std::size_t reserved_ = 0;                               // guarded by mu_
};

}  // namespace imgflow::gateway
