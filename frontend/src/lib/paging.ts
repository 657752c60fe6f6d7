// Pages of a long list: which page is shown, what "Showing 51–100 of 230" says, where to go next.

export interface PageWindow {
  /** 1-based page number. */
  page: number
  pages: number
  first: number
  last: number
}

/** The page that starts at ``offset`` (0-based), of ``total`` rows in pages of ``limit``. */
export function pageWindow(offset: number, limit: number, total: number, shown: number): PageWindow {
  return {
    page: Math.floor(offset / limit) + 1,
    pages: Math.max(1, Math.ceil(total / limit)),
    first: shown ? offset + 1 : 0,
    last: offset + shown,
  }
}

/** A page number from the address bar (``?page=3``): a positive integer, or 1. */
export function pageFromQuery(value: unknown): number {
  const text = Array.isArray(value) ? value[0] : value
  if (typeof text !== 'string' || !/^\d{1,6}$/.test(text)) return 1
  return Math.max(1, Number(text))
}

/** After rows were removed: the page to show, so that a page left empty steps back. */
export function pageAfterRemoval(page: number, limit: number, totalAfter: number): number {
  return Math.min(page, Math.max(1, Math.ceil(totalAfter / limit)))
}
