/* SPDX-License-Identifier: MIT */
/* Which sanitizer this translation unit is built with, under one spelling
 * for gcc (__SANITIZE_*__) and clang (__has_feature): CIO__ASAN for
 * AddressSanitizer, CIO__TSAN for ThreadSanitizer. */
#ifndef CIO_CORE_SANITIZER_H
#define CIO_CORE_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#  define CIO__ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CIO__ASAN 1
#  endif
#endif

#if defined(__SANITIZE_THREAD__)
#  define CIO__TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define CIO__TSAN 1
#  endif
#endif

#endif /* CIO_CORE_SANITIZER_H */
