#include "runtime/event_feed.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <string>

namespace imgflow::runtime {

struct EventFeed::State {
  struct Queue {
    std::deque<std::string> events;  // framed, ready to send
    std::size_t dropped = 0;         // lost to the backlog limit since the last send
  };

  std::mutex mu;
  std::condition_variable cv;
  std::set<Queue*> queues;
  bool closed = false;
  std::size_t max_subscribers;
  std::chrono::milliseconds heartbeat;
};

class EventFeed::Subscription final : public storage::ByteSource {
 public:
  explicit Subscription(std::shared_ptr<State> state) : state_(std::move(state)) {
    // The reconnection delay a browser's EventSource uses, and a first line so that a client
    // sees the stream is open before the first event.
    out_ = "retry: 5000\n: imgflow events\n\n";
  }

  ~Subscription() override {
    std::lock_guard lock(state_->mu);
    state_->queues.erase(&queue_);
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  void attach() { state_->queues.insert(&queue_); }  // under state_->mu

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (sent_ == out_.size() && !refill()) return std::size_t{0};
    const std::size_t count = std::min(n, out_.size() - sent_);
    std::memcpy(buf, out_.data() + sent_, count);
    sent_ += count;
    return count;
  }

 private:
  // Waits for events, a heartbeat or the end. False at the end.
  bool refill() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait_for(lock, state_->heartbeat,
                        [&] { return state_->closed || !queue_.events.empty(); });
    if (state_->closed) return false;
    out_.clear();
    sent_ = 0;
    if (queue_.dropped > 0) {
      out_ += "event: dropped\ndata: {\"dropped\":" + std::to_string(queue_.dropped) + "}\n\n";
      queue_.dropped = 0;
    }
    for (std::string& event : queue_.events) out_ += event;
    queue_.events.clear();
    if (out_.empty()) out_ = ": keep-alive\n\n";
    return true;
  }

  std::shared_ptr<State> state_;
  State::Queue queue_;
  std::string out_;
  std::size_t sent_ = 0;
};

EventFeed::EventFeed(std::size_t max_subscribers, std::chrono::milliseconds heartbeat)
    : state_(std::make_shared<State>()) {
  state_->max_subscribers = max_subscribers;
  state_->heartbeat = heartbeat;
}

EventFeed::~EventFeed() { close(); }

void EventFeed::publish(std::string_view type, std::string_view id, std::string_view json) {
  std::string framed = "event: ";
  framed += type;
  framed += "\nid: ";
  framed += id;
  framed += "\ndata: ";
  framed += json;
  framed += "\n\n";
  {
    std::lock_guard lock(state_->mu);
    for (State::Queue* queue : state_->queues) {
      if (queue->events.size() >= kBacklog) {
        queue->events.pop_front();
        ++queue->dropped;
      }
      queue->events.push_back(framed);
    }
  }
  state_->cv.notify_all();
}

std::unique_ptr<storage::ByteSource> EventFeed::subscribe() {
  auto subscription = std::make_unique<Subscription>(state_);
  {
    std::lock_guard lock(state_->mu);
    if (!state_->closed && state_->queues.size() < state_->max_subscribers) {
      subscription->attach();
      return subscription;
    }
  }
  return nullptr;  // the refused one is destroyed outside the lock its destructor takes
}

void EventFeed::close() {
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
  }
  state_->cv.notify_all();
}

}  // namespace imgflow::runtime
