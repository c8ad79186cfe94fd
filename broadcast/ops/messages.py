"""What `broadcast check` prints, in Vietnamese and English (one entry per outcome, same placeholders in both)."""

from __future__ import annotations

from enum import StrEnum


class Lang(StrEnum):
    vi = "vi"
    en = "en"


MESSAGES: dict[str, tuple[str, str]] = {
    # settings
    "settings_invalid": ("Thiết lập bị từ chối — {error}", "Settings refused — {error}"),
    "settings_safe": ("Thiết lập an toàn cho vận hành thật ({url})", "Settings safe for production ({url})"),
    "unsafe_default_key": ("SECRET_KEY là khoá mặc định công khai: ai cũng ký được cookie phiên; đặt một giá trị "
                           "ngẫu nhiên", "SECRET_KEY is the published default: anyone could sign a session cookie; "
                           "set a random value"),
    "unsafe_short_key": ("SECRET_KEY quá ngắn ({length} ký tự; tối thiểu {minimum})",
                         "SECRET_KEY is too short ({length} characters; at least {minimum})"),
    "unsafe_twilio_simulator": ("TWILIO_SIMULATOR đang bật: không tin nhắn thật nào được gửi; đặt "
                                "TWILIO_SIMULATOR=false với thông tin Twilio thật",
                                "TWILIO_SIMULATOR is on: no real SMS would leave; set TWILIO_SIMULATOR=false with "
                                "real Twilio credentials"),
    "unsafe_gateway_simulator": ("GATEWAY_SIMULATOR đang bật: một điện thoại giả lập sẽ nhận tin của các xã mẫu; đặt "
                                 "GATEWAY_SIMULATOR=false", "GATEWAY_SIMULATOR is on: a simulated phone would take the "
                                 "demo communes; set GATEWAY_SIMULATOR=false"),
    "unsafe_other": ("Thiết lập không an toàn: {problem}", "Unsafe setting: {problem}"),
    "unsafe_http": ("PUBLIC_BASE_URL không phải https ({url}): phản hồi của Twilio và cookie phiên đi qua mạng "
                    "không mã hoá; dùng địa chỉ https",
                    "PUBLIC_BASE_URL is not https ({url}): Twilio's callbacks and the session cookies would travel "
                    "in clear; use an https address"),
    "unsafe_no_data_key": ("DATA_ENCRYPTION_KEY trống: bí mật lưu trong cơ sở dữ liệu dùng khoá suy ra từ SECRET_KEY; "
                           "đặt một khoá Fernet riêng", "DATA_ENCRYPTION_KEY is empty: secrets in the database use a "
                           "key derived from SECRET_KEY; set a Fernet key of its own"),
    "unsafe_any_proxy": ("FORWARDED_ALLOW_IPS=*: bất kỳ ai cũng tự chọn được địa chỉ mà giới hạn đăng nhập dựa "
                         "vào; chỉ ghi địa chỉ của proxy (127.0.0.1 sau Caddy)",
                         "FORWARDED_ALLOW_IPS=*: anyone could choose the address the sign-in limits key on; list "
                         "only the proxy (127.0.0.1 behind Caddy)"),
    "placeholder": ("{name} vẫn là giá trị mẫu REPLACE-ME: điền giá trị thật vào /etc/broadcast/broadcast.env",
                    "{name} still holds the template's REPLACE-ME: put the real value in /etc/broadcast/broadcast.env"),
    # database
    "db_ok": ("Cơ sở dữ liệu trả lời ({where}, {server})", "Database reachable ({where}, {server})"),
    "db_missing_file": ("Không có tệp cơ sở dữ liệu {path}: chạy broadcast db upgrade",
                        "No database file {path}: run broadcast db upgrade"),
    "db_unreachable": ("Không kết nối được cơ sở dữ liệu {where}: {error}", "Database {where} unreachable: {error}"),
    "migrations_ok": ("Lược đồ cơ sở dữ liệu mới nhất ({revision})", "Database schema current ({revision})"),
    "migrations_behind": ("Lược đồ cơ sở dữ liệu ở {current}, mới nhất là {head}: chạy broadcast db upgrade",
                          "Database schema at {current}, latest is {head}: run broadcast db upgrade"),
    "needs_database": ("{what}: chưa kiểm tra được vì cơ sở dữ liệu chưa sẵn sàng",
                       "{what}: not checked, the database is not ready"),
    # Twilio
    "twilio_simulated": ("Twilio: đang dùng trình giả lập (TWILIO_SIMULATOR=true), chưa kiểm tra thông tin đăng nhập",
                         "Twilio: the simulator is on (TWILIO_SIMULATOR=true), credentials not checked"),
    "twilio_ok": ("Tài khoản Twilio {sid} ({name}) hoạt động{where}", "Twilio account {sid} ({name}) active{where}"),
    "twilio_refused": ("Twilio từ chối thông tin đăng nhập (HTTP 401, mã {code}): kiểm tra TWILIO_ACCOUNT_SID và "
                       "TWILIO_AUTH_TOKEN", "Twilio refused the credentials (HTTP 401, code {code}): check "
                       "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    "twilio_not_found": ("Twilio không thấy tài khoản {sid} (HTTP 404): kiểm tra TWILIO_ACCOUNT_SID",
                         "Twilio has no account {sid} (HTTP 404): check TWILIO_ACCOUNT_SID"),
    "twilio_error": ("Twilio trả lời HTTP {status} (mã {code}): {message}",
                     "Twilio answered HTTP {status} (code {code}): {message}"),
    "twilio_inactive": ("Tài khoản Twilio {sid} đang ở trạng thái {status}: không gửi được tin",
                        "Twilio account {sid} is {status}: nothing can be sent"),
    "twilio_unreachable": ("Không kết nối được Twilio ({host}): {error}", "Twilio ({host}) unreachable: {error}"),
    "sender_service": ("Người gửi: Messaging Service {sid}", "Sender: Messaging Service {sid}"),
    "sender_from": ("Người gửi: TWILIO_FROM={sender}", "Sender: TWILIO_FROM={sender}"),
    "sender_missing": ("Chưa có người gửi: đặt TWILIO_FROM (tên thương hiệu ≤ 11 ký tự hoặc số E.164) hoặc "
                       "TWILIO_MESSAGING_SERVICE_SID", "No sender: set TWILIO_FROM (a sender ID of at most 11 "
                       "characters, or an E.164 number) or TWILIO_MESSAGING_SERVICE_SID"),
    "sender_invalid": ("TWILIO_FROM={sender} không phải tên thương hiệu (≤ 11 chữ/số, có ít nhất một chữ) hay số E.164",
                       "TWILIO_FROM={sender} is neither a sender ID (at most 11 letters/digits, one letter at least) "
                       "nor an E.164 number"),
    # PUBLIC_BASE_URL
    "public_what": ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL"),
    "public_ok": ("{url} dẫn tới chính phiên bản này", "{url} reaches this very instance"),
    "public_redirect": ("{url} trả lời chuyển hướng {status} tới {location}: PUBLIC_BASE_URL phải là địa chỉ cuối "
                        "(Twilio không đi theo chuyển hướng khi gửi phản hồi)", "{url} answered a {status} redirect "
                        "to {location}: PUBLIC_BASE_URL must be the final address (Twilio's callbacks do not follow "
                        "redirects)"),
    "public_other": ("{url} trả lời nhưng không phải phiên bản này (HTTP {status}): một máy chủ khác, một cơ sở dữ "
                     "liệu khác hoặc một phiên bản cũ đang ở địa chỉ đó", "{url} answered, but it is not this instance "
                     "(HTTP {status}): another server, another database or an older version is at that address"),
    "public_unreachable": ("Không tới được {url}: {error}", "{url} unreachable: {error}"),
    # audio, media, gateways
    "tts_ok": ("Bộ đọc {engine} đọc được {seconds} giây ({lufs} LUFS)",
               "Text-to-speech engine {engine} rendered {seconds} s ({lufs} LUFS)"),
    "tts_failed": ("Bộ đọc {engine} không đọc được: {error}", "Text-to-speech engine {engine} failed: {error}"),
    "media_ok": ("MEDIA_DIR {path} ghi được, còn trống {free}", "MEDIA_DIR {path} writable, {free} free"),
    "media_missing": ("MEDIA_DIR {path} không tồn tại (install.sh và dịch vụ tạo nó)",
                      "MEDIA_DIR {path} does not exist (install.sh and the service create it)"),
    "media_unwritable": ("MEDIA_DIR {path} không ghi được: {error}", "MEDIA_DIR {path} is not writable: {error}"),
    "media_full": ("MEDIA_DIR {path} chỉ còn trống {free} (cần ít nhất {minimum})",
                   "MEDIA_DIR {path} has only {free} free (at least {minimum} wanted)"),
    "gateways_what": ("Điện thoại gửi tin", "Gateway phones"),
    "gateways_none": ("Không có điện thoại gửi tin nào đang bật", "No enabled gateway phone registered"),
    "gateway_ok": ("Điện thoại {name} trả lời ({health})", "Gateway phone {name} answers ({health})"),
    "gateway_down": ("Điện thoại {name} không trả lời: {error}", "Gateway phone {name} does not answer: {error}"),
    "gateway_failing": ("Điện thoại {name} báo lỗi sức khoẻ ({health})", "Gateway phone {name} reports {health}"),
    # summary
    "summary_ok": ("Đạt cả {total} mục kiểm tra.", "All {total} checks passed."),
    "summary_failed": ("{failed}/{total} mục kiểm tra không đạt.", "{failed} of {total} checks failed."),
}


def say(key: str, lang: Lang, **params: object) -> str:
    """The message `key` in `lang` with its placeholders filled."""
    vi, en = MESSAGES[key]
    return (vi if lang is Lang.vi else en).format(**params)
