// Swagger UI on this service's OpenAPI document. A file of its own, not an inline script: the
// page's Content-Security-Policy runs only this origin's files. No validator badge (it would
// send the document to another site) and no OAuth pop-up (keys are pasted under Authorize).
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  layout: "BaseLayout",
  presets: [window.SwaggerUIBundle.presets.apis],
});
