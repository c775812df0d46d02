// kmz gui: the page's calls to its server (kmzcodec/gui/server.py). A 409 answer means the
// request was overtaken by a newer one (Superseded); every other failure is an ApiError.

export class Superseded extends Error {}

export class ApiError extends Error {
  constructor(message, reason, status) {
    super(message);
    this.reason = reason;
    this.status = status;
  }
}

export async function api(path, { json, body, headers = {} } = {}) {
  const init = { method: json || body ? "POST" : "GET", headers: { ...headers }, credentials: "same-origin" };
  if (json) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("the kmz gui server does not answer (was it stopped?)", "offline", 0);
  }
  if (response.status === 409) throw new Superseded();
  if (!response.ok) {
    let payload = {};
    try {
      payload = await response.json();
    } catch {
      // not JSON: use the status line
    }
    throw new ApiError(payload.error || `${response.status} ${response.statusText}`, payload.reason || "http",
      response.status);
  }
  return response;
}
