#pragma once
// Options given in a URL's query (?queues=2&qd=64&timeout=5000&mode=direct)
// applied on top of the caller's ClientOptions.
#include <map>
#include <string>

#include "rdmablk/client.hpp"

namespace rdmablk {

// Throws rdmablk::Error(EINVAL) naming the bad key or value.
ClientOptions apply_url_options(ClientOptions opts, const std::map<std::string, std::string>& url_options);

}  // namespace rdmablk
