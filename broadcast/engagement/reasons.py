"""Vietnamese explanations of why a message did not arrive, for officers' reports."""

from __future__ import annotations

ERROR_CODES: dict[int, str] = {
    21211: "Số điện thoại không hợp lệ",
    21408: "Chưa được phép gửi tới vùng này",
    21610: "Người nhận đã từ chối nhận tin (STOP)",
    21612: "Nhà mạng không cho phép gửi tới số này",
    21614: "Không phải số di động",
    30003: "Máy không liên lạc được (tắt máy, ngoài vùng phủ sóng)",
    30004: "Tin nhắn bị chặn",
    30005: "Số không tồn tại",
    30006: "Số cố định hoặc nhà mạng không nhận tin",
    30007: "Bị nhà mạng lọc (tin rác)",
    30008: "Lỗi không xác định từ nhà mạng",
    30034: "Thương hiệu gửi tin chưa đăng ký",
}

REASONS: dict[str, str] = {
    "opted out": "Người dân đã từ chối nhận tin",
    "no phone number (erased)": "Số điện thoại đã bị xoá theo yêu cầu",
    "campaign expired before sending": "Chiến dịch hết hạn trước khi gửi",
    "campaign cancelled": "Chiến dịch đã bị huỷ",
    "no content for this channel and language": "Không có nội dung cho kênh và ngôn ngữ này",
}

STATUS_LABELS = {"failed": "Gửi lỗi", "undelivered": "Không đến máy", "skipped": "Bỏ qua",
                 "cancelled": "Đã huỷ", "unknown": "Nhà mạng không báo trạng thái cuối"}


def reason_label(status: str, error_code: int | None, reason: str = "") -> str:
    """A short Vietnamese description of a failure."""
    if error_code:
        return f"{ERROR_CODES.get(error_code, 'Lỗi nhà mạng')} (mã {error_code})"
    for prefix, label in REASONS.items():
        if reason.startswith(prefix):
            return label
    if reason.startswith("gave up"):
        return "Hết số lần thử gửi lại"
    if status == "unknown":
        return STATUS_LABELS["unknown"]
    return reason or STATUS_LABELS.get(status, status)
