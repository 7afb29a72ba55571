#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include "storage/object_store.h"

// The live feed behind /_imgflow/events, for dashboards: every outcome a notification reports
// (processed, failed, quarantined; function/notification.h), whether or not webhooks are
// configured, as server-sent events:
//
//   event: processed
//   id: <the notification's id>
//   data: <its JSON on one line>
//
// In memory and best effort: nothing is replayed after a reconnect, and a subscriber more than
// kBacklog events behind loses the oldest (an "event: dropped" with the count says so). The
// webhooks are the durable channel. A comment line every heartbeat keeps proxies from closing
// an idle stream and finds subscribers that have gone.
namespace imgflow::runtime {

class EventFeed {
 public:
  static constexpr std::size_t kBacklog = 256;

  explicit EventFeed(std::size_t max_subscribers = 16,
                     std::chrono::milliseconds heartbeat = std::chrono::seconds(15));
  ~EventFeed();  // close()s
  EventFeed(const EventFeed&) = delete;
  EventFeed& operator=(const EventFeed&) = delete;

  // Sends one event to every subscriber. `json` must be one line (JSON without pretty-printing).
  void publish(std::string_view type, std::string_view id, std::string_view json);

  // A stream of the events published from now on: read() blocks until there is something to
  // send (an event or a heartbeat) and returns 0 once the feed is closed. nullptr when
  // max_subscribers streams are open (each holds a connection) or the feed is closed.
  std::unique_ptr<storage::ByteSource> subscribe();

  // Ends every stream (their read() returns 0) and refuses new ones: at shutdown, so that open
  // streams do not hold the server up.
  void close();

 private:
  struct State;
  class Subscription;
  std::shared_ptr<State> state_;
};

}  // namespace imgflow::runtime
