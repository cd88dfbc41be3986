// Calls to the glassbox API from the pages. The credential (a subject token or a reviewer's
// API key) goes in the Authorization header; cookies are never sent nor accepted
// (credentials: "omit"), as the service promises. Every call says the page's language
// (Accept-Language), so that the service's problem messages come back in it.

let language = "en";

/** The language the pages speak now: sent as Accept-Language with every call. */
export function useLanguage(locale) {
  language = locale;
}

/** A non-2xx answer; `problem` is the RFC 9457 body when there is one. */
export class ApiError extends Error {
  constructor(status, problem, contentLanguage = null) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem || null;
    /** The language the service wrote the problem in (Content-Language), when it said. */
    this.language = contentLanguage;
    /** @type {{field: string, message: string}[]} */
    this.errors = (problem && Array.isArray(problem.errors) && problem.errors) || [];
  }
}

/**
 * Call the API.
 * @param {string} method
 * @param {string} path absolute path, e.g. "/v1/me/decisions/…"
 * @param {{credential?: string, body?: *, query?: Object<string,string>}} [options]
 * @returns {Promise<*>} the decoded JSON body (null for an empty answer)
 * @throws {ApiError}
 */
export async function call(method, path, { credential, body, query } = {}) {
  const headers = { Accept: "application/json, application/problem+json", "Accept-Language": language };
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: payload,
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, { detail: "The service cannot be reached." });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("content-language"));
  return data;
}
