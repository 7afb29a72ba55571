#include "gateway/admission.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace imgflow::gateway {

std::string client_key(std::string_view ip) {
  std::string text(ip);
  std::array<unsigned char, 16> bytes{};
  if (::inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) return text;
  if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) return text;
  constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xFF, 0xFF};
  char out[INET6_ADDRSTRLEN];
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin())) {
    ::inet_ntop(AF_INET, bytes.data() + kMappedPrefix.size(), out, sizeof out);
    return out;
  }
  std::fill(bytes.begin() + 8, bytes.end(), 0);  // keep the /64
  ::inet_ntop(AF_INET6, bytes.data(), out, sizeof out);
  return std::string(out) + "/64";
}

// ---- Slot -------------------------------------------------------------------------------------

Admission::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      pool_(other.pool_),
      beyond_share_(other.beyond_share_),
      key_(std::move(other.key_)) {}

Admission::Slot& Admission::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    pool_ = other.pool_;
    beyond_share_ = other.beyond_share_;
    key_ = std::move(other.key_);
  }
  return *this;
}

Admission::Slot::~Slot() { release(); }

void Admission::Slot::release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->release(*this);
}

// ---- Admission --------------------------------------------------------------------------------

Admission::Admission(const AdmissionLimits& limits) : limits_(limits) {}

std::size_t Admission::reserve_capacity() const {
  return std::min(limits_.reserved_connections, limits_.max_connections);
}

std::size_t Admission::shared_capacity() const {
  return limits_.max_connections - reserve_capacity();
}

bool Admission::within_share(const Address& address) const {
  return limits_.max_connections_per_ip == 0 ||
         address.connections < limits_.max_connections_per_ip;
}

Admission::Admitted Admission::admit(const std::string& key) {
  std::lock_guard lock(mu_);
  Address& address = addresses_[key];
  if (within_share(address)) {
    if (shared_ < shared_capacity()) return take(key, address, Pool::kShared, false);
    if (reserved_ < reserve_capacity()) return take(key, address, Pool::kReserved, false);
    return Admitted{{}, Refusal::kCapacity};
  }
  if (address.beyond_share >= kReservedBeyondShare) return Admitted{{}, Refusal::kPerIp};
  if (reserved_ < reserve_capacity()) return take(key, address, Pool::kReserved, true);
  return Admitted{{}, Refusal::kCapacity};
}

Admission::Admitted Admission::admit_in_place_of_cut(const std::string& key) {
  std::lock_guard lock(mu_);
  Address& address = addresses_[key];
  return take(key, address, Pool::kReserved, !within_share(address));
}

// Counts a slot for `address`. Requires mu_.
Admission::Admitted Admission::take(const std::string& key, Address& address, Pool pool,
                                    bool beyond_share) {
  ++(beyond_share ? address.beyond_share : address.connections);
  ++(pool == Pool::kShared ? shared_ : reserved_);
  return Admitted{Slot(this, pool, beyond_share, key), Refusal::kNone};
}

void Admission::release(const Slot& slot) {
  std::lock_guard lock(mu_);
  --(slot.pool() == Pool::kShared ? shared_ : reserved_);
  if (auto it = addresses_.find(slot.key()); it != addresses_.end()) {
    std::size_t& count = slot.beyond_share_ ? it->second.beyond_share : it->second.connections;
    if (count > 0) --count;
  }
}

Admission::Verdict Admission::check_request(const Slot& slot, bool privileged, TimePoint now) {
  if (privileged) return Verdict::kAllowed;
  if (slot.pool() == Pool::kReserved) return Verdict::kReservedForPrivileged;
  if (limits_.requests_per_second_per_ip <= 0) return Verdict::kAllowed;
  std::lock_guard lock(mu_);
  auto it = addresses_.find(slot.key());
  if (it == addresses_.end()) return Verdict::kAllowed;  // not admitted by this Admission
  return take_token(it->second, now) ? Verdict::kAllowed : Verdict::kRateLimited;
}

// The token bucket: refills at the sustained rate up to the burst; a request spends one token.
bool Admission::take_token(Address& address, TimePoint now) {
  const double burst = std::max(1.0, limits_.request_burst_per_ip);
  if (!address.bucket_started) {
    address.tokens = burst;
    address.bucket_started = true;
  } else {
    const double elapsed = std::chrono::duration<double>(now - address.refilled).count();
    address.tokens = std::min(
        burst, address.tokens + std::max(0.0, elapsed) * limits_.requests_per_second_per_ip);
  }
  address.refilled = now;
  if (address.tokens < 1) return false;
  address.tokens -= 1;
  return true;
}

bool Admission::bucket_full(const Address& address, TimePoint now) const {
  if (!address.bucket_started || limits_.requests_per_second_per_ip <= 0) return true;
  const double elapsed = std::chrono::duration<double>(now - address.refilled).count();
  return address.tokens + elapsed * limits_.requests_per_second_per_ip >=
         std::max(1.0, limits_.request_burst_per_ip);
}

void Admission::forget_idle(TimePoint now) {
  std::lock_guard lock(mu_);
  std::erase_if(addresses_, [&](const auto& entry) {
    return entry.second.connections == 0 && entry.second.beyond_share == 0 &&
           bucket_full(entry.second, now);
  });
}

Admission::Usage Admission::usage() const {
  std::lock_guard lock(mu_);
  return Usage{shared_, reserved_, addresses_.size()};
}

}  // namespace imgflow::gateway
