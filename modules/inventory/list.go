package inventory

import (
	"context"
	"fmt"
)

// List returns up to limit SKUs in SKU order, starting after the SKU named
// by after (empty: from the first).
func (s *Service) List(ctx context.Context, after string, limit int) ([]Stock, error) {
	var rows []stockRow
	if err := s.db.WithContext(ctx).Where("sku > ?", after).Order("sku").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("inventory: list: %w", err)
	}
	out := make([]Stock, len(rows))
	for i, r := range rows {
		out[i] = r.stock()
	}
	if err := addWaiting(s.db.WithContext(ctx), out); err != nil {
		return nil, err
	}
	return out, nil
}
