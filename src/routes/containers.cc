// Container routes. The container store arrives with the containers work; until then
// there are no containers, and lookups answer as dockerd does for a missing one (so
// clients such as `docker inspect NAME` fall through to images, as they do with dockerd).
#include "common/errors.h"
#include "routes/docker_api.h"

namespace sockerless::routes {

void add_container_routes(http::Router& router, engine::Engine&) {
  router.add("GET", "/containers/{id}/json",
             http::RouteTarget{[](http::Request& req, http::Responder&) {
                                 throw NotFound("No such container: " + req.param("id"));
                               },
                               http::Execution::Inline, http::BodyMode::Buffered});
}

}  // namespace sockerless::routes
