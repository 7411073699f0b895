/* banned.h: libc calls that overflow buffers or hide errors. Included last by the
   build (-include) so using one is a compile error. Use snprintf, cn_buf_t and
   strtoull with end checks instead. */
#ifndef CN_BANNED_H
#define CN_BANNED_H

#define CN_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) CN_BANNED(strcpy)
#undef strcat
#define strcat(x, y) CN_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) CN_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) CN_BANNED(strncat)
#undef sprintf
#define sprintf(...) CN_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CN_BANNED(vsprintf)
#undef gets
#define gets(x) CN_BANNED(gets)
#undef atoi
#define atoi(x) CN_BANNED(atoi)
#undef strtok
#define strtok(x, y) CN_BANNED(strtok)

#endif
