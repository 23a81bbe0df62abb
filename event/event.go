// Package event is the schema of the events shopbus's modules publish: their
// sources, detail-types and detail types, and the order states.
//
// Producers publish the detail types declared here. Consumers match on these
// constants and decode what they read into inbound types of their own, so a
// consumer never depends on another module's Go types, only on this schema.
// The JSON names are the contract: rules in a shop's config.yaml filter on
// them, so renaming one breaks those rules as surely as it breaks a module.
//
// The package imports nothing of shopbus's, so every package may import it.
package event

// Sources, as events' "source".
const (
	SourceCheckout  = "shopbus.checkout"
	SourceInventory = "shopbus.inventory"
)

// Detail-types, as events' "detail-type".
const (
	TypeOrderStateChange  = "Order State Change"
	TypeInventoryShortage = "Inventory Shortage"
	TypeStockReserved     = "Stock Reserved"
	// TypeOrderPartiallyRefunded is a refund that leaves part of the order
	// paid: the order keeps its state, so it is no state change. The
	// refund that gives back the rest is an Order State Change to
	// order_refunded. Both carry refund_minor, which no other event of an
	// order does, so a rule for every refund filters on it.
	TypeOrderPartiallyRefunded = "Order Partially Refunded"
)
