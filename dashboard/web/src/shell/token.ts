/**
 * The standalone shell's token: `iotemu dashboard` prints `http://host:port/#token=...`. The token
 * travels in the fragment, which the browser never sends to the server (so no access log sees it);
 * it is taken from the address once, kept for this origin's browser session (session storage is
 * per origin, port included, unlike a cookie), and removed from the address bar (so it is not
 * bookmarked or shared by accident).
 */
const KEY = "iotemu.dashboard.token";

export function takeToken(location: Location = window.location, history: History = window.history): string | null {
  const url = new URL(location.href);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  const given = fragment.get("token");
  if (given) {
    try {
      sessionStorage.setItem(KEY, given);
    } catch {
      // storage refused (private mode): the token lives only in memory
    }
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(history.state, "", url.pathname + url.search + (rest ? `#${rest}` : ""));
    return given;
  }
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}
