import { takeToken } from "./token";

function at(href: string) {
  const replaced: string[] = [];
  const location = { href } as Location;
  const replaceState = (_s: unknown, _t: string, url: string) => void replaced.push(url);
  const history = { state: null, replaceState } as unknown as History;
  return { location, history, replaced };
}

describe("takeToken", () => {
  beforeEach(() => sessionStorage.clear());

  it("takes the token from the fragment (never sent to the server) and removes it from the address", () => {
    const { location, history, replaced } = at("http://127.0.0.1:8080/?view=fleets#token=abc-123");
    expect(takeToken(location, history)).toBe("abc-123");
    expect(replaced).toEqual(["/?view=fleets"]);
    expect(takeToken(at("http://127.0.0.1:8080/").location, history)).toBe("abc-123"); // kept for the session
  });

  it("ignores a token in the query string, which the server would log", () => {
    const { location, history, replaced } = at("http://127.0.0.1:8080/?token=leaked");
    expect(takeToken(location, history)).toBeNull();
    expect(replaced).toEqual([]);
  });
});
