package zimapi

// Action names one of the four ZIM receipt actions; its value is the Action
// query parameter sent to ZIM.
type Action string

// The receipt actions. All four take FromUserId, a conversation id and up to
// 10 ConvMsgSeq values.
const (
	GroupReadReceipt     Action = "GroupReadReceipt"
	C2cReadReceipt       Action = "C2cReadReceipt"
	GroupDeliveryReceipt Action = "GroupDeliveryReceipt"
	C2cDeliveryReceipt   Action = "C2cDeliveryReceipt"
)

// Actions returns the four receipt actions in a fixed order.
func Actions() []Action {
	return []Action{GroupReadReceipt, C2cReadReceipt, GroupDeliveryReceipt, C2cDeliveryReceipt}
}

// Valid reports whether a is one of the four receipt actions.
func (a Action) Valid() bool {
	switch a {
	case GroupReadReceipt, C2cReadReceipt, GroupDeliveryReceipt, C2cDeliveryReceipt:
		return true
	}
	return false
}

// IsGroup reports whether a addresses a group: its body carries GroupId;
// the c2c actions carry ConvId (the peer's user id) instead.
func (a Action) IsGroup() bool {
	return a == GroupReadReceipt || a == GroupDeliveryReceipt
}

// IsDelivery reports whether a sets delivery receipts, whose answer carries
// DeliveredTime instead of ReadTime.
func (a Action) IsDelivery() bool {
	return a == GroupDeliveryReceipt || a == C2cDeliveryReceipt
}
