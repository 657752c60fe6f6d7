import { describe, expect, it } from 'vitest'
import { plainMessage } from '../src/api/client'
import { checkBody, checkFullName, checkPassword, checkRoomName, checkUsername, codeFromInput } from '../src/lib/validation'

describe('the sign-up rules mirror the server', () => {
  it('usernames: 3-32 of A-Z a-z 0-9 _ . -', () => {
    expect(checkUsername('ana')).toBeNull()
    expect(checkUsername('a.b-c_9')).toBeNull()
    expect(checkUsername('x'.repeat(32))).toBeNull()
    expect(checkUsername('ab')).toMatch(/at least 3/)
    expect(checkUsername('x'.repeat(33))).toMatch(/at most 32/)
    expect(checkUsername('ana lima')).toMatch(/letters/)
    expect(checkUsername('anä')).toMatch(/letters/)
    expect(checkUsername('')).toMatch(/Choose/)
  })

  it('full names: 1-64 characters after trimming, no control characters', () => {
    expect(checkFullName('Ana Lima')).toBeNull()
    expect(checkFullName('   ')).toMatch(/Enter/)
    expect(checkFullName('x'.repeat(64))).toBeNull()
    expect(checkFullName('x'.repeat(65))).toMatch(/At most 64/)
    expect(checkFullName('a\u202eb')).toMatch(/control/)
    expect(checkRoomName('x'.repeat(81))).toMatch(/At most 80/)
  })

  it('passwords: at least 8 characters', () => {
    expect(checkPassword('1234567')).toMatch(/at least 8/)
    expect(checkPassword('12345678')).toBeNull()
  })

  it('message bodies: not blank, at most 4000 characters', () => {
    expect(checkBody(' \n ')).toMatch(/Write something/)
    expect(checkBody('hi\nthere')).toBeNull()
    expect(checkBody('x'.repeat(4001))).toMatch(/4000/)
  })
})

describe('codeFromInput', () => {
  it('takes a code or an invite link', () => {
    expect(codeFromInput('  abc-123 ')).toBe('abc-123')
    expect(codeFromInput('http://chat.example/join/abc-123')).toBe('abc-123')
    expect(codeFromInput('/join/abc-123?x=1')).toBe('abc-123')
  })
})

describe('plainMessage', () => {
  it("turns the server's validation text into words", () => {
    expect(plainMessage('username: Value error, must be 3-32 characters')).toBe('Username must be 3-32 characters')
    expect(plainMessage('full_name: must not be empty; password: too short')).toBe(
      'Full name must not be empty; Password too short',
    )
    expect(plainMessage('No room has this code.')).toBe('No room has this code.')
  })
})
