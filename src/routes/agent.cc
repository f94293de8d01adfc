// /internal/v1/agent/connect: where sockerless-agent, running inside a workload that
// accepts no inbound connections (reverse mode), dials the daemon. The request carries the
// container's token; the connection is handed to the backend's agent clients.
#include "agent/link.h"
#include "agent/wire.h"
#include "common/errors.h"
#include "engine/agent_client.h"
#include "engine/engine.h"
#include "routes/docker_api.h"

namespace sockerless::routes {

void add_agent_routes(http::Router& router, engine::Engine& engine) {
  router.add("GET", agent::kConnectPath,
             http::RouteTarget{
                 [&engine](http::Request& r, http::Responder& o) {
                   engine::AgentClients* agents = engine.backend().agents();
                   if (!agents) throw NotFound("this backend runs no containers under an agent");
                   agent::UpgradeRequest req;
                   req.method = r.method;
                   req.target = r.target;
                   for (const auto& [k, v] : r.headers.fields()) {
                     std::string name = k;
                     for (auto& c : name)
                       c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                     req.headers[name] = v;
                   }
                   std::string container = r.query.get("container").value_or("");
                   std::string token = agent::bearer_token(req.headers);
                   if (!agents->accepts(container, token))
                     throw Unauthorized("wrong or missing agent token");
                   std::string head;
                   try {
                     head = agent::upgrade_answer(req, token);
                   } catch (const agent::HandshakeError& e) {
                     throw InvalidArgument(e.what());
                   }
                   http::Response answer;
                   answer.status = 101;
                   answer.reason = "Switching Protocols";
                   answer.headers.add("Upgrade", "websocket");
                   answer.headers.add("Connection", "Upgrade");
                   auto at = head.find("Sec-WebSocket-Accept: ");
                   std::string accept = head.substr(at + 22, head.find("\r\n", at) - at - 22);
                   answer.headers.add("Sec-WebSocket-Accept", accept);
                   UniqueFd fd = o.hijack(answer);
                   agents->adopt(container, std::move(fd), "");
                 },
                 http::Execution::Blocking, http::BodyMode::Buffered});
}

}  // namespace sockerless::routes
