"""The browser pages: the subject's page and the reviewers' console, served by glassbox itself.

Plain HTML, CSS and JavaScript modules from this package (no CDN, no build step). The pages are
public; everything they show comes through the authenticated API, with the credential (the
subject's token, the reviewer's key) sent in a header, never in a cookie.
"""
